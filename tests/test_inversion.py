import pytest

from phronesis.data.constitution import Constitution, ConstitutionConfig, load_constitution
from phronesis.core.errors import ConfigError


def test_bundled_constitution_inverts_every_active_principle_and_back():
    base = load_constitution()
    inverted = ConstitutionConfig(invert=True).load()
    assert len(base.active) == 13 and len(inverted.active) == 13
    for p in base.active:
        assert p.inverse is not None
        assert p.inverse in [q.id for q in inverted.active] and p.id not in [q.id for q in inverted.active]
    assert sorted(p.id for p in inverted.inverted().active) == sorted(p.id for p in base.active)


def _constitution(no_inverse: bool) -> Constitution:
    def principle(pid, **kw):
        return dict(id=pid, description=pid, critique_request="c", revision_request="r", comparison="q", **kw)

    return Constitution(name="t", principles=[principle("kind", inverse="cruel"),
                                              principle("cruel", inverse="kind", tags=["inverted"]),
                                              principle("brief", no_inverse=no_inverse)])


def test_incomplete_inversion_is_refused_unless_no_inverse():
    with pytest.raises(ConfigError, match="'brief' has no `inverse`"):
        _constitution(no_inverse=False).inverted()
    inverted = _constitution(no_inverse=True).inverted()
    assert sorted(p.id for p in inverted.active) == ["brief", "cruel"]
