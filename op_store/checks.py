"""System checks (ids ``op_store.E0xx`` for errors, ``op_store.W0xx`` for warnings)."""
