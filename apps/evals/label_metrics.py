"""Per-label and per-entity-type measures as plain functions: no database, so each is checked against
scikit-learn and seqeval on the same answers (tests/evals/test_label_metrics.py).

Classification: a confusion of (expected label, answered label) counts, the answered label `INVALID` for a
non-answer (an error, or an answer with problems). Precision, recall and F1 per label follow scikit-learn's
`precision_recall_fscore_support(..., labels=<the labels seen>)`: a non-answer is a miss of its expected label
and a false positive of none; a label never answered has precision 0, one never expected recall 0.

NER: each answer's entities placed in its text (`apps.projects.kinds.ner.span_match`), counted per entity type
(micro over types pools the counts, macro averages the types' F1s, as seqeval's report does) and by the kind of
error: missed, spurious, wrong type, wrong boundary.
"""

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from apps.projects.kinds.ner import SpanMatch

INVALID = "!invalid"  # the answered "label" of a non-answer; no project label starts with "!" in practice
ERROR_KINDS = ("missed", "spurious", "wrong type", "wrong boundary")


@dataclass(frozen=True)
class LabelRow:
    label: str
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def support(self) -> int:
        return self.true_positives + self.false_negatives

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Report:
    """Rows per label (or entity type), micro and macro F1, and for NER the span error kinds."""

    rows: list[LabelRow]
    errors: dict = field(default_factory=dict)

    @property
    def micro(self) -> LabelRow:
        return LabelRow("micro", sum(r.true_positives for r in self.rows), sum(r.false_positives for r in self.rows),
                        sum(r.false_negatives for r in self.rows))

    @property
    def macro_f1(self) -> float:
        return sum(r.f1 for r in self.rows) / len(self.rows) if self.rows else 0.0

    @property
    def macro_precision(self) -> float:
        return sum(r.precision for r in self.rows) / len(self.rows) if self.rows else 0.0

    @property
    def macro_recall(self) -> float:
        return sum(r.recall for r in self.rows) / len(self.rows) if self.rows else 0.0


# --- classification ------------------------------------------------------------------------

def confusion_labels(confusion: dict[tuple[str, str], int], known: Iterable[str] = ()) -> list[str]:
    """The labels of a confusion's rows and columns: those expected or answered (non-answers aside), in the
    project's order first, then any other in alphabetical order."""
    seen = {label for pair, n in confusion.items() if n for label in pair if label != INVALID}
    ordered = [label for label in known if label in seen]
    return ordered + sorted(seen - set(ordered))


def label_report(confusion: dict[tuple[str, str], int], labels: list[str]) -> Report:
    """Precision, recall, F1 and support per label from (expected, answered) counts."""
    rows = []
    for label in labels:
        tp = confusion.get((label, label), 0)
        fp = sum(n for (expected, answered), n in confusion.items() if answered == label and expected != label)
        fn = sum(n for (expected, answered), n in confusion.items() if expected == label and answered != label)
        rows.append(LabelRow(label, tp, fp, fn))
    return Report(rows)


def confusion_matrix(confusion: dict[tuple[str, str], int], labels: list[str]) -> list[list[int]]:
    """Counts, a row per expected label and a column per answered label, the last column non-answers."""
    return [[confusion.get((expected, answered), 0) for answered in [*labels, INVALID]] for expected in labels]


# --- NER -----------------------------------------------------------------------------------

@dataclass
class SpanTally:
    """Counts per entity type and error kind, added up answer by answer."""

    counts: dict = field(default_factory=dict)  # type -> [tp, fp, fn]
    errors: Counter = field(default_factory=Counter)

    def add(self, match: SpanMatch) -> None:
        for *_, kind in match.gold & match.predicted:
            self._count(kind)[0] += 1
        for *_, kind in match.predicted - match.gold:
            self._count(kind)[1] += 1
        for kind in match.unplaced:
            self._count(kind)[1] += 1
        for *_, kind in match.gold - match.predicted:
            self._count(kind)[2] += 1
        for kind in match.gold_unplaced:
            self._count(kind)[2] += 1
        self.errors.update(span_errors(match))

    def merge(self, other: "SpanTally") -> None:
        for kind, (tp, fp, fn) in other.counts.items():
            counts = self._count(kind)
            counts[0], counts[1], counts[2] = counts[0] + tp, counts[1] + fp, counts[2] + fn
        self.errors.update(other.errors)

    def report(self, known: Iterable[str] = ()) -> Report:
        """Rows for the types expected or predicted (the project's order first), as seqeval reports them."""
        seen = {kind for kind, counts in self.counts.items() if any(counts)}
        ordered = [kind for kind in known if kind in seen] + sorted(seen - set(known))
        return Report([LabelRow(kind, *self.counts[kind]) for kind in ordered],
                      errors={kind: self.errors.get(kind, 0) for kind in ERROR_KINDS})

    def _count(self, kind: str) -> list[int]:
        return self.counts.setdefault(kind or "(no type)", [0, 0, 0])


def span_errors(match: SpanMatch) -> Counter:
    """The errors of one answer, each wrong span counted once.

    Wrong type: a predicted span at exactly the place of an expected one, of another type. Wrong boundary: a
    predicted span overlapping an expected one at another place (whatever its type). Spurious: a predicted
    span that overlaps no expected one, or an entity that could not be placed in the text. Missed: an expected
    span that no predicted span overlaps.
    """
    errors = Counter()
    places = {(start, end) for start, end, _ in match.gold}
    for start, end, _ in match.predicted - match.gold:
        if (start, end) in places:
            errors["wrong type"] += 1
        elif any(_overlap((start, end), gold) for gold in match.gold):
            errors["wrong boundary"] += 1
        else:
            errors["spurious"] += 1
    errors["spurious"] += len(match.unplaced)
    for gold in match.gold - match.predicted:
        if not any(_overlap(gold, predicted) for predicted in match.predicted):
            errors["missed"] += 1
    errors["missed"] += len(match.gold_unplaced)
    return errors


def _overlap(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]
