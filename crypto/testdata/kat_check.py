#!/usr/bin/env python3
"""Recomputes every output of kat_v2.txt from the spec (crypto/ENCODING.md)
alone, starting from the normalised values recorded in the file (norm.*
lines), with Python's hashlib.blake2b. It shares no code with the C++
encoder, so agreement cross-checks the key derivation, tokens and Bloom
filters. Not run by CI (CTest runs the C++ KatTest); run by hand:

    python3 crypto/testdata/kat_check.py [crypto/testdata/kat_v2.txt]
"""
import hashlib
import os
import sys

DOMAIN = b"linkd-enc-v2:"
OUTPUTS = ["upn", "nhs_number", "dob", "dob_year_month", "dob_year_day",
           "dob_month_day", "dob_unordered", "birth_year", "sex",
           "postcode_unit", "postcode_sector", "postcode_district",
           "given_name_bf", "family_name_bf",
           "given_name_pc_bf", "family_name_pc_bf"]


def mac(key, msg, size):
    return hashlib.blake2b(msg, key=key, digest_size=size).digest()


def subkey(k_link, label):
    return mac(k_link, DOMAIN + label.encode(), 32)


def token(k_link, label, value):
    return mac(subkey(k_link, label), value.encode("ascii"), 32).hex()


def bloom(k_link, parts, salt):
    """salt is the whole tagged salt, e.g. "dob:2014-03-07" or "pc:SW1A 1AA";
    never empty in v2."""
    assert salt.startswith(("dob:", "pc:"))
    key = subkey(k_link, "name_bf")
    bits = bytearray(128)
    for part in parts:
        padded = "_" + part + "_"
        for i in range(len(padded) - 1):
            h = mac(key, salt.encode() + b"\x1f" + padded[i:i + 2].encode(), 64)
            for j in range(20):
                pos = (h[2 * j] | h[2 * j + 1] << 8) % 1024
                bits[pos // 8] |= 1 << (pos % 8)
    return bits.hex()


def expected(k_link, norm):
    out = {name: "-" for name in OUTPUTS}
    dob_salt = pc_salt = None
    if "upn" in norm:
        out["upn"] = token(k_link, "upn", norm["upn"])
    if "nhs_number" in norm:
        out["nhs_number"] = token(k_link, "nhs_number", norm["nhs_number"])
    if "dob" in norm:
        y, m, d = norm["dob"].split("-")
        lo, hi = sorted([m, d], key=int)
        unordered = f"{y}-{lo}-{hi}"
        dob_salt = "dob:" + unordered
        out["dob"] = token(k_link, "dob", f"{y}-{m}-{d}")
        out["dob_year_month"] = token(k_link, "dob_year_month", f"{y}-{m}")
        out["dob_year_day"] = token(k_link, "dob_year_day", f"{y}-{d}")
        out["dob_month_day"] = token(k_link, "dob_month_day", f"{m}-{d}")
        out["dob_unordered"] = token(k_link, "dob_unordered", unordered)
        out["birth_year"] = token(k_link, "birth_year", y)
    if "sex" in norm:
        out["sex"] = token(k_link, "sex", norm["sex"])
    if "postcode" in norm:
        unit = norm["postcode"]
        outward, inward = unit.split(" ")
        out["postcode_unit"] = token(k_link, "postcode_unit", unit)
        out["postcode_sector"] = token(k_link, "postcode_sector",
                                       outward + " " + inward[0])
        out["postcode_district"] = token(k_link, "postcode_district", outward)
        pc_salt = "pc:" + unit
    # Section 6: a name filter exists only under a salt; no salt, no filter.
    for field in ("given_name", "family_name"):
        if field not in norm:
            continue
        parts = norm[field].split(" ")
        if dob_salt is not None:
            out[field + "_bf"] = bloom(k_link, parts, dob_salt)
        if pc_salt is not None:
            out[field + "_pc_bf"] = bloom(k_link, parts, pc_salt)
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "kat_v2.txt")
    header, records, current = {}, [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, _, value = line.partition(": ")
            if name == "record":
                current = {"record": value}
                records.append(current)
            elif current is None:
                header[name] = value
            else:
                current[name] = value
    k_link = bytes.fromhex(header["key"])
    failures = 0
    want_check = mac(k_link, DOMAIN + b"key_check", 8).hex()
    if header["key_check"] != want_check:
        print(f"key_check: file {header['key_check']} spec {want_check}")
        failures += 1
    checked = 0
    for rec in records:
        norm = {k[5:]: v for k, v in rec.items() if k.startswith("norm.")}
        for name, value in expected(k_link, norm).items():
            checked += 1
            if rec.get(name) != value:
                print(f"record {rec['record']} {name}: file {rec.get(name)} "
                      f"spec {value}")
                failures += 1
    print(f"{len(records)} records, {checked} outputs + key_check: "
          f"{failures} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
