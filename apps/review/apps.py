from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"

    def ready(self):
        from apps.core import jobs

        from .models import ParaphraseRequest, TestCaseImport
        from .paraphrases import PARAPHRASE_REQUEST_MAX_ATTEMPTS, paraphrase_request_enqueue
        from .services import TEST_CASE_IMPORT_MAX_ATTEMPTS, test_case_import_enqueue

        jobs.register(TestCaseImport, noun="test-case import", enqueue=test_case_import_enqueue,
                      queue_of=lambda _import: jobs.interactive_queue(), max_attempts=TEST_CASE_IMPORT_MAX_ATTEMPTS)
        jobs.register(ParaphraseRequest, noun="paraphrase request", enqueue=paraphrase_request_enqueue,
                      queue_of=lambda _request: jobs.interactive_queue(), max_attempts=PARAPHRASE_REQUEST_MAX_ATTEMPTS)
