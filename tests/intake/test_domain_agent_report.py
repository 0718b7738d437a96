"""The agent report's assembly (pure): every agent and team listed, `none` last, both measures
merged per person, the CSV rows."""

from __future__ import annotations

from services.intake.domain.agent_report import NOBODY, Grouped, Timing, build_report, csv_rows


def test_lines_merge_both_measures_and_list_everyone() -> None:
    groups = [
        Grouped("first_response", "agent", "agt_b", Timing(2, 90.0, 90.0, 110.0)),
        Grouped("resolution", "agent", "agt_b", Timing(1, 600.0, 600.0, 600.0)),
        Grouped("first_response", "agent", None, Timing(1, 5.0, 5.0, 5.0)),
        Grouped("resolution", "team", "team_x", Timing(1, 600.0, 600.0, 600.0)),
    ]
    report = build_report(groups, {"agt_a": "zoe", "agt_b": "Adam"}, {"team_x": "Front", "team_y": "Back"})
    assert [(line.key, line.name) for line in report.by_agent] == [
        ("agt_b", "Adam"),
        ("agt_a", "zoe"),
        (NOBODY, None),
    ]
    adam = report.by_agent[0]
    assert (adam.first_response.count, adam.resolution.mean_seconds) == (2, 600.0)
    assert report.by_agent[1].first_response == Timing()  # listed with nothing done
    assert [(line.key, line.resolution.count) for line in report.by_team] == [("team_y", 0), ("team_x", 1)]
    rows = csv_rows(report)
    assert [(r["dimension"], r["key"], r["first_responses"], r["solved"]) for r in rows] == [
        ("agent", "agt_b", 2, 1),
        ("agent", "agt_a", 0, 0),
        ("agent", NOBODY, 1, 0),
        ("team", "team_y", 0, 0),
        ("team", "team_x", 0, 1),
    ]


def test_a_deactivated_agent_appears_only_with_figures() -> None:
    gone = Grouped("first_response", "agent", "agt_gone", Timing(1, 1.0, 1.0, 1.0))
    former = {"agt_gone": "Gone", "agt_idle": "Left"}
    assert [(line.key, line.name) for line in build_report([gone], {}, {}, former).by_agent] == [
        ("agt_gone", "Gone")
    ]
    assert build_report([], {}, {}, former).by_agent == ()
