#!/usr/bin/env bash
# Deploys the dev stack to minikube with Pulumi's local file backend (no Pulumi Cloud account).
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "up:dev: $*" >&2; exit 1; }

command -v pulumi >/dev/null 2>&1 || fail "the Pulumi CLI is not installed: see https://www.pulumi.com/docs/install/ (curl -fsSL https://get.pulumi.com | sh)"
command -v kubectl >/dev/null 2>&1 || fail "kubectl is not installed: it reads the minikube context (minikube kubectl -- also works after: alias kubectl='minikube kubectl --')"
kubectl config get-contexts minikube >/dev/null 2>&1 || fail "there is no kubeconfig context 'minikube': start it first, e.g. minikube start --cpus 4 --memory 8g --disk-size 40g"
kubectl --context minikube get --raw /readyz >/dev/null 2>&1 || fail "the minikube cluster does not answer: run 'minikube status' and 'minikube start'"
[ -d node_modules ] || npm ci

# The local backend keeps state under ~/.pulumi; its secrets need a passphrase (empty is fine for dev).
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
pulumi login --local
pulumi stack select dev 2>/dev/null || pulumi stack init dev
pulumi up --stack dev "$@"
