"""op_store.testing with Django's TestCase classes: the unittest examples of docs/testing.md (copied there verbatim)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import Client, TestCase, TransactionTestCase

from op_store.lifecycle.keys import operation_id_for_key
from op_store.store import OperationState
from op_store.testing import OpStoreTestMixin, crash_after_admission, in_flight
from tests.testapp.models import Counter


class PaymentTests(OpStoreTestMixin, TestCase):
    def setUp(self) -> None:
        self.client.force_login(User.objects.create(username="alice"))

    def test_a_crashed_payment_is_indeterminate_after_its_lease(self) -> None:
        clock = self.freeze_time()
        with crash_after_admission():
            self.client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        clock.advance(seconds=61)
        retry = self.client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        self.assertEqual((retry.status_code, retry.json()["code"]), (409, "indeterminate"))
        self.assertFalse(Counter.objects.filter(name="pay").exists())

    def test_payments_are_recorded_in_a_scope_of_this_test(self) -> None:
        scope = self.isolate_scope()
        self.client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        user = User.objects.get(username="alice")
        stored = scope.store(f"user:{user.pk}").lookup(operation_id_for_key("pay-1"))
        self.assertIs(stored, OperationState.SEALED)


class ConcurrentPaymentTests(OpStoreTestMixin, TransactionTestCase):
    def test_a_duplicate_of_a_payment_in_flight_gets_409(self) -> None:
        user = User.objects.create(username="alice")
        first_client, second_client = Client(), Client()
        first_client.force_login(user)
        second_client.force_login(user)
        with in_flight(lambda: first_client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")) as first:
            duplicate = second_client.post("/lc/fn/pay/", HTTP_IDEMPOTENCY_KEY="pay-1")
        self.assertEqual((duplicate.status_code, duplicate.json()["code"]), (409, "in-flight"))
        self.assertEqual(first.result.status_code, 201)
        self.assertEqual(Counter.objects.get(name="pay").value, 1)


class MixinTests(OpStoreTestMixin, TestCase):
    def test_the_helpers_are_undone_when_the_test_ends(self) -> None:
        from django.utils import timezone

        from op_store.conf import op_store_settings

        real_now, resolver = timezone.now, op_store_settings.SCOPE_RESOLVER
        with self.subTest("inside"):
            inner = type(self)("test_nothing")
            inner._callSetUp = lambda: None  # type: ignore[method-assign]
            clock = inner.freeze_time()
            inner.isolate_scope("x:")
            self.assertEqual(timezone.now(), clock())
            self.assertIsNot(op_store_settings.SCOPE_RESOLVER, resolver)
            inner.doCleanups()
        self.assertIs(timezone.now, real_now)
        self.assertIs(op_store_settings.SCOPE_RESOLVER, resolver)

    def test_nothing(self) -> None:
        """Only the name the instance above is built with; never collected."""

    test_nothing.__test__ = False  # type: ignore[attr-defined]
