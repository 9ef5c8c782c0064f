from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "apps.review"

    def ready(self):
        from apps.core import jobs

        from .models import TestCaseImport
        from .services import TEST_CASE_IMPORT_MAX_ATTEMPTS, test_case_import_enqueue

        jobs.register(TestCaseImport, noun="test-case import", enqueue=test_case_import_enqueue,
                      queue_of=lambda _import: jobs.interactive_queue(), max_attempts=TEST_CASE_IMPORT_MAX_ATTEMPTS)
