from tests.store.fixtures import home, hub, smol_hosted

__all__ = ["home", "hub", "smol_hosted"]
