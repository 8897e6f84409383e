from deita_assets.core import judge


def test_single_grade_parsing_strict_lenient_and_failures():
    assert judge.parse_single_grade("Good answer.\nRating: [[7]]") == judge.ParsedGrade(7.0, "ok")
    assert judge.parse_single_grade("[[3]] at first, but on reflection Rating: [[8.5]]").score == 8.5
    assert judge.parse_single_grade("Rating: 6") == judge.ParsedGrade(6.0, "lenient")
    assert judge.parse_single_grade("I would give it 4 out of 10.") == judge.ParsedGrade(4.0, "lenient")
    assert judge.parse_single_grade("Rating: [[11]]") == judge.ParsedGrade(None, "out_of_range")
    assert judge.parse_single_grade("Rating: [[0]]").status == "out_of_range"
    assert judge.parse_single_grade("no number here") == judge.ParsedGrade(None, "unparseable")
    assert judge.parse_single_grade("") == judge.ParsedGrade(None, "empty")
    assert judge.parse_single_grade(None).status == "empty"


def test_pairwise_parsing():
    assert judge.parse_pairwise("B is better. Verdict: [[B]]") == judge.ParsedVerdict("B", "ok")
    assert judge.parse_pairwise("Verdict: [[TIE]]").winner == "tie"
    assert judge.parse_pairwise("[[C]]").winner == "tie"
    assert judge.parse_pairwise("Verdict: A") == judge.ParsedVerdict("A", "lenient")
    assert judge.parse_pairwise("both are fine") == judge.ParsedVerdict(None, "unparseable")


def test_both_orders_cancel_position_bias():
    a, b, tie = (judge.ParsedVerdict(w, "ok") for w in ("A", "B", "tie"))
    # a judge that always prefers position A: candidate wins once and loses once -> 0.5, inconsistent
    always_a = judge.combine_orders(a, a)
    assert always_a == judge.PairwiseOutcome(0.5, False)
    # candidate really better: A when first, B when second
    assert judge.combine_orders(a, b) == judge.PairwiseOutcome(1.0, True)
    assert judge.combine_orders(b, a) == judge.PairwiseOutcome(0.0, True)
    assert judge.combine_orders(tie, b) == judge.PairwiseOutcome(0.75, False)
    failed = judge.combine_orders(a, judge.ParsedVerdict(None, "unparseable"))
    assert failed.points is None
    rate = judge.win_rate([judge.combine_orders(a, b), always_a, failed])
    assert rate == judge.WinRate(win_rate=0.75, n_scored=2, n_failed=1, n_inconsistent=1)
    assert judge.win_rate([failed]).win_rate is None


def test_tasks_show_both_orders_and_reference():
    items = [("q1", ["What is 2+2?"], ["4"]), ("q2", ["Write a haiku."], None)]
    candidate = {"q1": ["four"], "q2": ["leaves fall"]}
    base = {"q1": ["5"], "q2": ["no"]}
    singles = judge.single_tasks(items, candidate)
    assert [t.kind for t in singles] == [judge.SINGLE, judge.SINGLE]
    assert "Reference answers" in singles[0].messages[1]["content"]
    assert "Reference answers" not in singles[1].messages[1]["content"]
    pairs = judge.pairwise_tasks(items, candidate, base)
    assert [(t.item_id, t.kind) for t in pairs] == [
        ("q1", judge.CANDIDATE_FIRST),
        ("q1", judge.CANDIDATE_SECOND),
        ("q2", judge.CANDIDATE_FIRST),
        ("q2", judge.CANDIDATE_SECOND),
    ]
    first, second = pairs[0].messages[1]["content"], pairs[1].messages[1]["content"]
    assert first.index("four") < first.index("5") and second.index("5") < second.index("four")
    verdicts = {
        ("q1", judge.CANDIDATE_FIRST): judge.ParsedVerdict("A", "ok"),
        ("q1", judge.CANDIDATE_SECOND): judge.ParsedVerdict("B", "ok"),
        ("q2", judge.CANDIDATE_FIRST): judge.ParsedVerdict("B", "ok"),
    }
    outcomes = judge.pairwise_outcomes(verdicts)
    assert outcomes[0] == judge.PairwiseOutcome(1.0, True) and outcomes[1].points is None
