import factory
from django.contrib.auth import get_user_model

from apps.accounts.models import Membership, Role
from apps.datasets.models import Dataset, Record
from apps.datasets.services import dataset_create
from apps.projects.models import Project, TaskKind


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("secret-pass")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    task_kind = TaskKind.CLASSIFICATION
    labels = factory.LazyFunction(lambda: ["billing", "technical", "escalation"])
    entity_types = factory.LazyFunction(list)
    glossary = factory.LazyFunction(lambda: [{"term": "hold", "definition": "a customer-requested pause"}])


class NerProjectFactory(ProjectFactory):
    task_kind = TaskKind.NER
    labels = factory.LazyFunction(list)
    entity_types = factory.LazyFunction(lambda: ["PARTY", "DATE"])


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.REVIEWER


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Dataset {n}")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        """Through the service, as the app makes datasets (it locks the project's task kind)."""
        return dataset_create(**kwargs)


class RecordFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Record

    dataset = factory.SubFactory(DatasetFactory)
    position = factory.Sequence(lambda n: n + 1)
    text = factory.Sequence(lambda n: f"Ticket number {n} about an invoice")
    label = "billing"
