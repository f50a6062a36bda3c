"""Create the demo user (demo / demo, a superuser) so the admin has someone to log in as."""

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the demo superuser (demo / demo) and demo operations; safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        user, created = User.objects.get_or_create(username="demo", defaults={"is_staff": True, "is_superuser": True})
        if created:
            user.set_password("demo")
            user.save()
        self.stdout.write(f"demo user: demo / demo ({'created' if created else 'exists'})")
