"""The Operation and Schema models: u64 columns, helpers, display."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from op_store.models import Operation, Schema, U64Field
from op_store.store import SealedResponse
from tests.support.stores import ORDER, POINT, U32

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", [0, 1, 2**63 - 1, 2**63, 2**64 - 1])
def test_u64_field_round_trip(value):
    op = Operation.objects.create(scope="m", operation_id=value, token=1)
    assert Operation.objects.get(pk=op.pk).operation_id == value
    assert Operation.objects.filter(operation_id=value).count() == 1
    assert Operation.objects.filter(operation_id__in=[value, 5]).count() == 1


def test_u64_field_rejects_out_of_range():
    with pytest.raises((TypeError, ValueError)):
        Operation.objects.filter(operation_id=-1).count()
    op = Operation(scope="", operation_id=2**64, token=1)
    with pytest.raises(ValidationError) as info:
        op.full_clean()
    assert "operation_id" in info.value.message_dict
    op.operation_id = 2**64 - 1
    op.full_clean()  # u64 max is valid, though it is above the signed BIGINT range


def test_u64_form_field():
    field = U64Field().formfield()
    assert field.clean("18446744073709551615") == 2**64 - 1
    with pytest.raises(ValidationError):
        field.clean("-1")


def test_operation_display_and_helpers():
    op = Operation(scope="alice", operation_id=7, key="order-7", state="sealed", token=1)
    assert str(op) == "alice/order-7 (sealed)"
    assert str(Operation(operation_id=7, token=1)) == "7 (admitted)"
    assert Operation._meta.verbose_name == "operation"
    assert op.sealed_response() is None  # no response yet
    op.response, op.root_type, op.status_code = b"r", U32.to_json(), 201
    assert op.sealed_response() == SealedResponse(b"r", U32, 201)
    assert op.fingerprint_hex == ""


def test_schema_model():
    row = Schema.from_vox(ORDER)
    row.save()
    assert row.kind == "struct" and row.name == "Order"
    assert Schema.objects.by_hash(ORDER.id).to_vox() == ORDER
    assert Schema.objects.by_hash(f"0x{ORDER.id:x}").to_vox() == ORDER
    assert str(row) == f"Order {ORDER.id:016x}"
    Schema.from_vox(POINT).save()
    assert [s.name for s in Schema.objects.all()] == ["Order", "Point"]  # by name, indexed
