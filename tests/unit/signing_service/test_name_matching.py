"""The cached name comparison answers exactly as asn1crypto's RFC 5280 comparison."""

from __future__ import annotations

import itertools

import pytest
from asn1crypto import x509

from signing_service import name_matching

name_matching.install()


def _name(*rdns: list[tuple[str, str, str]]) -> x509.Name:
    """A name from RDNs of (type, string type, value) attributes, in the order given."""
    sequence = x509.RDNSequence(
        [
            x509.RelativeDistinguishedName(
                [
                    x509.NameTypeAndValue(
                        {"type": kind, "value": x509.DirectoryString(name=string_type, value=value)}
                        if kind != "country_name"
                        else {"type": kind, "value": value}
                    )
                    for kind, string_type, value in rdn
                ]
            )
            for rdn in rdns
        ]
    )
    # Parsed back from DER, as names are when they come out of a certificate.
    return x509.Name.load(x509.Name(name="", value=sequence).dump())


CN = "common_name"
O = "organization_name"  # noqa: E741 - the attribute's usual short name
U8 = "utf8_string"
PS = "printable_string"

NAMES = [
    _name([(CN, U8, "Sở GD&ĐT — Dấu cơ quan")]),
    _name([(CN, U8, "sở gd&đt — dấu cơ quan")]),  # case folds
    _name([(CN, U8, "Sở  GD&ĐT —   Dấu cơ quan ")]),  # inner and trailing spaces fold
    _name([(CN, PS, "Test CA")]),
    _name([(CN, U8, "Test CA")]),  # another string type, same prepared value
    _name([(CN, U8, "Test CA")], [(O, U8, "Sở GD&ĐT")]),
    _name([(O, U8, "Sở GD&ĐT")], [(CN, U8, "Test CA")]),  # RDN order matters
    _name([(CN, U8, "Test CA"), (O, U8, "Sở GD&ĐT")]),  # one multi-valued RDN
    _name([(O, U8, "Sở GD&ĐT"), (CN, U8, "Test CA")]),  # same set, other order
    _name([(CN, U8, "Test CA"), (CN, U8, "Other")]),  # one type twice in an RDN
    _name([(CN, U8, "Nguyễn Thị Minh Khai")]),
    _name([(CN, U8, "Nguye\u0302\u0303n Thi\u0323 Minh Khai")]),  # NFD: NFKC-prepared
    _name(),
]


@pytest.mark.parametrize(("a", "b"), list(itertools.product(NAMES, NAMES)))
def test_equality_matches_asn1crypto(a: x509.Name, b: x509.Name) -> None:
    assert (a == b) is name_matching.original_equal(a, b)
    assert (a != b) is (not name_matching.original_equal(a, b))


@pytest.mark.parametrize("name", NAMES)
def test_hashable_matches_asn1crypto(name: x509.Name) -> None:
    assert name.hashable == name_matching.original_hashable(name)
    assert name.hashable == name.hashable  # served from the cache the second time


def test_not_equal_to_other_types() -> None:
    assert NAMES[0] != "Sở GD&ĐT — Dấu cơ quan"
    assert NAMES[0] != NAMES[0].chosen


def test_equal_names_are_found_equal_in_both_directions() -> None:
    assert NAMES[0] == NAMES[1] == NAMES[2]
    assert NAMES[3] == NAMES[4]
    assert NAMES[5] != NAMES[6]
    assert NAMES[7] == NAMES[8]
