"""rules (pure) and config (TOML -> rules, one-line errors naming file and key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from oomkit import config, rules
from oomkit.errors import ConfigError
from oomkit.rules import ProcessFacts, Rule, parse_match

PG = ProcessFacts(pid=10, name="postgres", cmdline="/usr/bin/postgres -D /var/lib/pgsql",
                  uid=26, user="postgres", cgroup="/system.slice/postgresql.service",
                  unit="postgresql.service")
KAFKA = ProcessFacts(pid=11, name="java", cmdline="java -Xmx3g kafka.Kafka server.properties",
                     uid=1001, user="kafka", cgroup="/system.slice/kafka.service",
                     unit="kafka.service")
LONG = ProcessFacts(pid=12, name="elasticsearch-w", cmdline="/opt/es/bin/elasticsearch-worker -d",
                    uid=0, user="root", cgroup="/user.slice/user-0.slice/session-1.scope",
                    unit="session-1.scope")


def m(text: str) -> rules.Match:
    return parse_match(text)


@pytest.mark.parametrize(("text", "facts", "expected"), [
    ("name=postgres", PG, True),
    ("name=postgre*", PG, True),
    ("name=java", PG, False),
    ("name=elasticsearch-worker", LONG, True),  # argv[0] basename: comm is cut at 15 bytes
    ("name=elasticsearch-work3r", LONG, False),
    ("cmdline=java .*Kafka", KAFKA, True),
    ("cmdline=^java -Xmx[0-9]+g", KAFKA, True),
    ("cmdline=Kafka$", KAFKA, False),
    ("user=postgres", PG, True),
    ("user=26", PG, True),
    ("user=27", PG, False),
    ("unit=postgresql.service", PG, True),
    ("unit=*.service", KAFKA, True),
    ("unit=system.slice", PG, True),  # any cgroup path component
    ("unit=nginx.service", PG, False),
    ("cgroup=/system.slice", PG, True),
    ("cgroup=/system.slice/postgresql.service", PG, True),
    ("cgroup=/system.slice/postgres", PG, False),  # a prefix of a name is not an ancestor
    ("cgroup=/", LONG, True),
])
def test_match(text: str, facts: ProcessFacts, expected: bool) -> None:
    assert rules.matches(m(text), facts) is expected


@pytest.mark.parametrize(("text", "error"), [
    ("postgres", "expected KEY=VALUE"),
    ("colour=red", "unknown match key"),
    ("name=", "needs a value"),
    ("cmdline=java (", "not a valid regular expression"),
    ("cgroup=system.slice", "absolute cgroup path"),
])
def test_bad_match(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_match(text)


def test_all_conditions_must_hold_and_first_rule_wins() -> None:
    rs = [
        Rule((m("user=postgres"), m("name=postgres")), -800, "r1"),
        Rule((m("unit=*.service"),), 300, "r2"),
        Rule((m("user=kafka"), m("name=nginx")), -100, "r3"),
    ]
    assert rules.decide(rs, PG) == -800
    assert rules.decide(rs, KAFKA) == 300
    assert rules.decide(rs, LONG) is None
    assert rules.first_match(rs, KAFKA) is rs[1]
    assert not rules.rule_matches(Rule((), 5), PG)  # no condition matches nothing
    assert str(rs[0]) == "user=postgres name=postgres -> -800"


def test_check_adj() -> None:
    assert rules.check_adj(-1000) == -1000 and rules.check_adj(1000) == 1000
    with pytest.raises(ValueError, match="from -1000 to 1000"):
        rules.check_adj(1001)


GOOD = """
# keep the database, sacrifice the batch jobs
[[protect.rules]]
name = "postgres"
user = "postgres"
preset = "protect"

[[protect.rules]]
cmdline = "java .*Kafka"
adj = -300

[[protect.rules]]
unit = "batch-*.service"
preset = "prefer"
"""


def test_config_parses_rules_in_order() -> None:
    cfg = config.parse(GOOD, "/etc/oomkit/oomkit.toml")
    r = cfg.protect.rules
    assert [x.adj for x in r] == [-500, -300, 500]
    assert [str(c) for c in r[0].matches] == ["name=postgres", "user=postgres"]
    assert r[1].source == "oomkit.toml rule 2"
    assert rules.decide(r, PG) == -500 and rules.decide(r, KAFKA) == -300


def test_config_empty_file_has_no_rules() -> None:
    assert config.parse("", "x.toml").protect.rules == ()


@pytest.mark.parametrize(("text", "error"), [
    ("[protect\n", "x.toml: not valid TOML"),
    ("[deamon]\ninterval = 3\n", "x.toml: unknown section [deamon]; known: protect"),
    ("[protect]\nrule = []\n", "x.toml: protect.rule: unknown key"),
    ("[protect]\nrules = 3\n", "x.toml: protect.rules: use [[protect.rules]]"),
    ("[[protect.rules]]\nname = 'x'\nadj = 2000\n",
     "x.toml: protect.rules[1].adj: oom_score_adj must be from -1000 to 1000, not 2000"),
    ("[[protect.rules]]\nname = 'x'\nadj = '5'\n", "protect.rules[1].adj: must be an integer"),
    ("[[protect.rules]]\nname = 'x'\nadj = true\n", "protect.rules[1].adj: must be an integer"),
    ("[[protect.rules]]\nname = 'x'\n", "protect.rules[1]: give exactly one of adj"),
    ("[[protect.rules]]\nname = 'x'\nadj = 1\npreset = 'prefer'\n", "exactly one of adj"),
    ("[[protect.rules]]\nname = 'x'\npreset = 'immortal'\n",
     "protect.rules[1].preset: 'immortal' is not one of never-kill, protect, prefer"),
    ("[[protect.rules]]\nadj = 5\n", "protect.rules[1]: no condition"),
    ("[[protect.rules]]\nname = 'a'\nadj = 1\n[[protect.rules]]\nnme = 'x'\nadj = 5\n",
     "protect.rules[2].nme: unknown key"),
    ("[[protect.rules]]\ncmdline = '('\nadj = 5\n",
     "protect.rules[1].cmdline: cmdline='(' is not a valid regular expression"),
    ("[[protect.rules]]\nuser = 26\nadj = 5\n", "protect.rules[1].user: must be a string"),
])
def test_config_errors_name_file_and_key(text: str, error: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config.parse(text, "x.toml")
    assert error in str(exc.value)
    assert "\n" not in str(exc.value)


def test_config_load(tmp_path: Path) -> None:
    p = tmp_path / "oomkit.toml"
    p.write_text(GOOD)
    assert len(config.load(p).protect.rules) == 3
    with pytest.raises(ConfigError, match="no such file; create it or pass --config"):
        config.load(tmp_path / "missing.toml")
    p.write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(p)


def test_long_name_without_cmdline_matches_truncated_comm() -> None:
    hidden = ProcessFacts(pid=13, name="elasticsearch-w", cmdline="", uid=0, user="root",
                          cgroup=None, unit=None)
    assert rules.matches(m("name=elasticsearch-worker"), hidden)
    assert not rules.matches(m("name=elasticsearch"), hidden)
