"""Models the tests' views write to (to prove side effects happen once)."""

from django.db import models


class Counter(models.Model):
    name = models.CharField(max_length=100, unique=True)
    value = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name}={self.value}"


class Row(models.Model):
    key = models.CharField(max_length=100)

    def __str__(self) -> str:
        return self.key
