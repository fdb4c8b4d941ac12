"""The command line, run as a user runs it: a real process, real files, exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import capacity

from conftest import run

pytestmark = pytest.mark.solver



def test_solve_default_json() -> None:
    result = run("solve", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["status"] == "optimal"
    for key in ("objective", "bound", "gap", "seconds", "variables", "constraints",
                "nonzeros"):
        assert summary[key] is not None, key
    assert set(summary["seconds"]) >= {"load", "build", "transfer", "solve", "extract"}


def test_solve_with_and_without_the_start() -> None:
    tiny = str(capacity.tiny_case_path("candidate_site"))
    runs = {flag: json.loads(run("solve", tiny, flag, "--json").stdout)
            for flag in ("--start", "--no-start")}
    assert runs["--start"]["objective"] == runs["--no-start"]["objective"] == 17.0
    assert "start" in runs["--start"]["seconds"] and "start" not in runs["--no-start"]["seconds"]


def test_solve_prints_summary_and_saves_plan(tmp_path: Path) -> None:
    tiny = str(capacity.tiny_case_path("candidate_site"))
    result = run("solve", tiny, "--out", str(tmp_path / "plan"))
    assert result.returncode == 0, result.stderr
    assert "candidate_site: optimal" in result.stdout
    assert "net discounted cost 17.0 MUSD" in result.stdout
    assert "opens SC" in result.stdout
    assert (tmp_path / "plan" / "summary.json").exists()


def test_solve_summary_says_what_changeovers_take(tmp_path: Path) -> None:
    # data/tiny/changeovers: P1 at SA (6 batches + 1 changeover a period), P2 at SB (4 + 1):
    # 4 of the 24 slots used over the two periods are changeovers, 4 campaigns, and the
    # checker agrees with the saved plan. A case without changeovers says nothing of them.
    tiny = str(capacity.tiny_case_path("changeovers"))
    result = run("solve", tiny, "--out", str(tmp_path / "plan"))
    assert result.returncode == 0, result.stderr
    assert "net discounted cost 34.0 MUSD" in result.stdout
    assert "changeovers take 4.0 of the 24.0 batch slots used over the horizon (4 " \
           "campaigns" in result.stdout
    checked = run("check", tiny, str(tmp_path / "plan"))
    assert checked.returncode == 0 and "ok: the plan holds" in checked.stdout
    plain = run("solve", str(capacity.tiny_case_path("two_sites")))
    assert "changeover" not in plain.stdout


def test_validate_ok_and_invalid(tmp_path: Path) -> None:
    ok = run("validate", str(capacity.tiny_case_path("two_sites")))
    assert ok.returncode == 0 and ok.stdout.startswith("ok: two_sites")
    bad = tmp_path / "bad"
    shutil.copytree(capacity.tiny_case_path("two_sites"), bad)
    (bad / "suites.csv").write_text("site,modality,scale,existing_batches_per_period\n"
                                    "SA,antibody,commercial,ten\nSQ,antibody,commercial,1\n")
    for command in ("validate", "solve"):
        result = run(command, str(bad))
        assert result.returncode == 2
        assert "suites.csv, row 2, column 'existing_batches_per_period': 'ten' is not a " \
               "finite number" in result.stderr
        assert "suites.csv, row 3, column 'site': unknown site 'SQ'" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout


def test_bad_option_names_the_option() -> None:
    result = run("solve", "--time-limit", "-1")
    assert result.returncode == 2
    assert "--time-limit" in result.stderr and "Traceback" not in result.stderr


def test_exit_codes_for_infeasible_and_no_solution(tmp_path: Path) -> None:
    case = tmp_path / "short"
    shutil.copytree(capacity.tiny_case_path("two_sites"), case)
    (case / "offtakes.csv").write_text("anchor,program,market,period,committed_batches\n"
                                       "ANCH,P1,A,2030,25\n")
    infeasible = run("solve", str(case))
    assert infeasible.returncode == 3 and "infeasible" in infeasible.stdout
    none = run("solve", "--time-limit", "0.000001", "--json")
    assert none.returncode == 4 and json.loads(none.stdout)["status"] == "no_solution"


def test_cli_twice_gives_the_same_plan(tmp_path: Path) -> None:
    for i in (1, 2):
        assert run("solve", "--out", str(tmp_path / f"p{i}")).returncode == 0
    for file in sorted((tmp_path / "p1").glob("*.csv")):
        assert file.read_text() == (tmp_path / "p2" / file.name).read_text(), file.name


def test_template_then_solve_to_a_workbook_and_check(tmp_path: Path) -> None:
    made = run("template", "--out", str(tmp_path / "case.xlsx"))
    assert made.returncode == 0, made.stderr
    assert "template:" in made.stdout and (tmp_path / "case.xlsx").exists()
    blank = run("validate", str(tmp_path / "case.xlsx"))  # required tables still empty
    assert blank.returncode == 2 and "case.xlsx[sites]: has no rows" in blank.stderr
    (tmp_path / "theirs.xlsx").write_text("not capacity's")
    refused = run("template", "--out", str(tmp_path / "theirs.xlsx"))
    assert refused.returncode == 2 and "--force" in refused.stderr
    tiny = str(capacity.tiny_case_path("two_sites"))
    solved = run("solve", tiny, "--out", str(tmp_path / "plan"), "--format", "xlsx")
    assert solved.returncode == 0, solved.stderr
    assert sorted(p.name for p in (tmp_path / "plan").iterdir()) == \
        [".capacity.json", "plan.xlsx", "summary.json"]
    checked = run("check", tiny, str(tmp_path / "plan"))
    assert checked.returncode == 0 and checked.stdout.startswith("ok"), checked.stderr
