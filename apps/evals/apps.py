from django.apps import AppConfig


class EvalsConfig(AppConfig):
    name = "apps.evals"
    verbose_name = "Evals and dashboards"

    def ready(self):
        from apps.core import jobs

        from .models import EvalRun
        from .services import eval_enqueue, eval_queue

        jobs.register(EvalRun, noun="eval run", enqueue=eval_enqueue, queue_of=eval_queue)

        from apps.review.signals import verdicts_changed

        from .human_review import on_verdicts_changed

        verdicts_changed.connect(on_verdicts_changed, dispatch_uid="evals.human_verdicts")
