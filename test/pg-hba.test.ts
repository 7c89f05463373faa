import { hbaFields, hbaLineProblem, hbaProblems } from "../policy/rules/pg-hba";

const dev = { production: false };
const production = { production: true };
const problem = (line: string, rules = dev) => hbaLineProblem(line, rules);

describe("pg_hba lines read as Greenplum 6's hba.c reads them", () => {
    test("fields and lists split as next_token splits them: quotes, commas (also before blanks), comments", () => {
        const texts = (line: string) => hbaFields(line)?.map((field) => field.map((t) => t.text));
        expect(texts('host "my db",other  alice, bob 10.0.0.0/8 md5 # etl')).toEqual([["host"], ["my db", "other"], ["alice", "bob"], ["10.0.0.0/8"], ["md5"]]);
        expect(texts('host all "a ""quoted"" role" 10.1.2.3/32 md5')).toEqual([["host"], ["all"], ['a "quoted" role'], ["10.1.2.3/32"], ["md5"]]);
        expect(texts("   # only a comment")).toBeUndefined();
        expect(hbaFields('host all "all" 10.0.0.0/8 md5')?.[2][0]).toEqual({ text: "all", quoted: true });
    });

    test.each([
        ["host all all 10.0.0.0/8 md5"],
        ["hostnossl analytics etl,loader 10.1.0.0/16 scram-sha-256"],
        ["host all all 10.0.0.0 255.0.0.0 md5"],
        ["host all all fd00::/8 md5"],
        ["host all all ::ffff:10.1.2.3/128 trust"],
        ["host all etl 10.1.2.3/32 trust"],
        ["host all etl 10.1.2.3 255.255.255.255 trust"],
        ["host all etl etl-1.apps.example.com trust"],
        ["host all all samehost trust"],
        ["host all all .apps.example.com md5"],
        ["host all all all reject"],
        ["local all all peer"],
        ["local all etl ident map=etl"],
        ["host all all 10.0.0.0/8 ident map=etl"],
        ["host all all 10.0.0.0/8 radius radiusserver=10.9.9.9 radiussecret=s3cret radiusport=1812"],
        ["host all etl 10.1.2.3/32 password"],
    ])("%s is read and allowed", (line) => {
        expect(problem(line)).toBeUndefined();
    });

    test.each([
        ["host all all 10.0.0.0/8 MD5", 'has authentication method "MD5", which Greenplum does not know (methods are lower case: md5)'],
        ["host all all 10.0.0.0/8 kerberos", 'has authentication method "kerberos", which Greenplum does not know'],
        ["host all all 10.0.0.0/8", "has no authentication method: end-of-line before authentication method; end the line with md5 or scram-sha-256 (or reject)"],
        ["host all all 10.1.2.3 md5", '"md5" is not a netmask: after an address without /prefix Greenplum reads the next field as its mask, e.g. 255.255.255.255 for one host'],
        ["host all all 10.1.2.3", '"10.1.2.3" has no mask: end-of-line before netmask specification; write 10.1.2.3/32 for one host, or add the netmask'],
        ["host all all 10.0.0.0/33 md5", '"10.0.0.0/33" has an invalid CIDR mask: the prefix length is a whole number from 0 to 32'],
        ["host all all fd00::/129 md5", '"fd00::/129" has an invalid CIDR mask: the prefix length is a whole number from 0 to 128'],
        ["host all all db.example.com/24 md5", '"db.example.com/24" gives a host name a CIDR mask, which Greenplum refuses ("specifying both host name and CIDR mask is invalid"): write the network\'s address, e.g. 10.0.0.0/8'],
        ["host all all 10.0.0.0 ffff:: md5", 'address 10.0.0.0 and mask ffff:: are of different IP families ("IP address and mask do not match")'],
        ["host all all 10.0.0.0/8,10.1.0.0/16 md5", "has several addresses (a comma-separated list): Greenplum takes one address range per line; write one line per address"],
        ["Host all all 10.0.0.0/8 md5", 'starts with "Host": a line starts with local, host, hostssl or hostnossl (lower case)'],
        ["host,local all all 10.0.0.0/8 md5", "has several connection types: Greenplum takes exactly one per line"],
        ["host", "has no database: end-of-line before database specification (e.g. all, or a database name)"],
        ["host all", "has no role: end-of-line before role specification (e.g. all, or a role name)"],
        ["host all all 10.0.0.0/8 md5,trust", "has several authentication methods: Greenplum takes exactly one per line"],
        ["host all all 10.0.0.0/8 md5 map=etl", 'has option "map", but md5 takes no options here'],
        ["host all all 10.0.0.0/8 ident sameuser", 'has "sameuser" after the method: options are name=value ("authentication option not in name=value format")'],
        ["host all all 10.0.0.0/8 ident ldapserver=x", 'has option "ldapserver", which ident does not take (it takes map)'],
        ["host all all 10.0.0.0/8 radius radiusserver=10.9.9.9", "uses radius without radiussecret=…, which Greenplum requires"],
        ["host all all 10.0.0.0/8 peer", 'uses peer on a host line: Greenplum takes peer only on local lines ("peer authentication is only supported on local sockets")'],
        ["hostssl all all 10.0.0.0/8 md5", 'is a hostssl line: the master runs with ssl off, so Greenplum refuses it ("hostssl requires SSL to be turned on"); use host or hostnossl'],
        ["host all @admins 10.0.0.0/8 md5", "names a file (@admins) for databases or roles, which does not exist in the master pod: list the names on the line"],
    ])("%s is refused: Greenplum would skip it on reload and refuse it at the next start", (line, message) => {
        expect(problem(line)).toBe(message);
    });

    test.each([
        ["host all all 10.1/16 md5", '"10.1" is not an IPv4 address: write four decimal octets from 0 to 255, e.g. 10.1.2.3 (stricter than Greenplum, which also reads shortened forms such as 10.1)'],
        ["host all all 010.0.0.0/8 md5", '"010.0.0.0" has an octet with a leading zero, which Greenplum reads as octal (010 is 8): write it without leading zeros'],
        ["host all all 10.0.0.300 255.255.255.255 md5", '"10.0.0.300" is not an IPv4 address: write four decimal octets from 0 to 255, e.g. 10.1.2.3 (stricter than Greenplum, which also reads shortened forms such as 10.1)'],
        ["host all all 10.1.2.3/8 md5", '"10.1.2.3/8" has host bits set beyond /8: Greenplum matches the whole network anyway, so write the network\'s own address to say what is meant'],
        ["host all all fe80::1::2/128 md5", '"fe80::1::2" is not an IPv6 address'],
        ["host all all 10.0.0.0/8 ldap ldapserver=ldap.example.com", "uses ldap, which works only if the image's Greenplum was built with it, and the image contract does not require that: use md5 or scram-sha-256"],
        ["host all all 10.0.0.0/8 sspi", "uses sspi, which exists only on Windows builds of Greenplum"],
    ])("%s is refused: what Greenplum reads differently from what was meant, or may not support", (line, message) => {
        expect(problem(line)).toBe(message);
    });
});

describe("trust and password only for one host; password never in production", () => {
    const trust = "which hides authentication bugs: use md5 or scram-sha-256, or name one host (a.b.c.d/32 or an IPv6 address/128)";
    test.each([
        ["host all all 10.0.0.0/8 trust", `trusts every host in 10.0.0.0/8, ${trust}`],
        ["host all all 10.0.0.0 255.0.0.0 trust", `trusts every host in 10.0.0.0 mask 255.0.0.0, ${trust}`],
        ["host all all 10.1.2.3 255.255.255.254 trust", `trusts every host in 10.1.2.3 mask 255.255.255.254, ${trust}`],
        ["host all all .example.com trust", `trusts every host whose name ends in .example.com, ${trust}`],
        ["host all all ::/0 trust", `trusts every host in ::/0, ${trust}`],
        ["host all all fd00::/64 trust", `trusts every host in fd00::/64, ${trust}`],
        ["host all all all trust", `trusts every address (all), ${trust}`],
        ["host all all samenet trust", `trusts every host on the master pod's subnets (samenet), ${trust}`],
        ["hostnossl all all 0.0.0.0/0 trust", `trusts every host in 0.0.0.0/0, ${trust}`],
        [
            "host all all 10.0.0.0/8 password",
            "takes clear-text passwords from every host in 10.0.0.0/8, where anyone on the path can read them: use md5 or scram-sha-256, or name one host (a.b.c.d/32 or an IPv6 address/128)",
        ],
    ])("%s is refused", (line, message) => {
        expect(problem(line)).toBe(message);
    });

    test("production refuses password even for one host; dev allows it there", () => {
        const line = "host all etl 10.1.2.3/32 password";
        expect(problem(line, dev)).toBeUndefined();
        expect(problem(line, production)).toBe("uses password, which sends the password in clear text: use md5 or scram-sha-256 (production refuses password on any line)");
    });

    test("every refused line is named by its number and text; comments and blank lines are skipped", () => {
        expect(hbaProblems("# clients\nhost all all 10.0.0.0/8 md5\n\nhost all all 10.0.0.0/8 trust\nhost all all 10.0.0.0/8 MD5", dev)).toEqual([
            `line 4 ("host all all 10.0.0.0/8 trust") trusts every host in 10.0.0.0/8, ${trust}`,
            'line 5 ("host all all 10.0.0.0/8 MD5") has authentication method "MD5", which Greenplum does not know (methods are lower case: md5)',
        ]);
    });
});
