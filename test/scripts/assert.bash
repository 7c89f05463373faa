# shellcheck shell=bash disable=SC2154 # status and output are set by bats' run
# Tiny assertion helpers shared by the bats suites (no bats-assert dependency).

expect_status() {
  if [[ "$status" -ne "$1" ]]; then
    printf 'expected exit %s, got %s; output:\n%s\n' "$1" "$status" "$output" >&2
    return 1
  fi
}

expect_output_has() {
  local needle
  for needle in "$@"; do
    if [[ "$output" != *"$needle"* ]]; then
      printf 'expected output to contain %q; output:\n%s\n' "$needle" "$output" >&2
      return 1
    fi
  done
}

expect_output_lacks() {
  local needle
  for needle in "$@"; do
    if [[ "$output" == *"$needle"* ]]; then
      printf 'expected output NOT to contain %q; output:\n%s\n' "$needle" "$output" >&2
      return 1
    fi
  done
}
