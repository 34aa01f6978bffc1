from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "people"
    verbose_name = "People and organisation"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from people.roles import ensure_global_roles

        post_migrate.connect(ensure_global_roles, dispatch_uid="people.ensure_global_roles")
