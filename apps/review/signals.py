"""What review tells the apps above it without knowing them (the floors run one way): the verdict of some outputs
may have changed. Sent inside the grade's transaction, so a receiver's writes stand or fall with the grade."""

from django.dispatch import Signal

# Sent with `output_ids` (a list) after a grade is saved or taken back, or a lead adjudicates.
verdicts_changed = Signal()


def verdicts_changed_send(*output_ids: int) -> None:
    verdicts_changed.send(sender=None, output_ids=list(output_ids))
