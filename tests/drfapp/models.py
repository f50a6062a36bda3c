"""What the DRF test views write (one row per executed request) and the tokens their clients send."""

from django.conf import settings
from django.db import models


class Note(models.Model):
    text = models.CharField(max_length=200)
    pinned = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.text


class ApiToken(models.Model):
    """A token for DRF's ``TokenAuthentication`` (``Authorization: Token <key>``), no ``rest_framework.authtoken``."""

    key = models.CharField(max_length=40, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return self.key
