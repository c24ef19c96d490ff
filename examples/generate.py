#!/usr/bin/env python3
"""Writes the example contact list and do-not-call file that `ringa demo` uses.

Everything is made up. The list looks like what a Swedish call center gets
from a client: a spreadsheet exported as CSV in Windows-1252 with `;`
separators, Swedish names and addresses, phone numbers written in every
national and international form, some duplicates, invalid numbers and empty
phones, postal codes and a few custom fields. The do-not-call file is a
NIX-style register extract: one number a line.

The output is fixed by the seed: running this script again reproduces
contacts.csv and nix.txt byte for byte (Python 3 standard library only).

    python3 examples/generate.py            # writes next to this script
    python3 examples/generate.py --check    # exits 1 if the files differ
"""

import os
import random
import sys

SEED = 20261204
ROWS = 10000

FIRST = [
    "Anna", "Eva", "Maria", "Karin", "Kristina", "Lena", "Sara", "Emma", "Ingrid",
    "Åsa", "Märta", "Ebba", "Linnéa", "Elin", "Sofia", "Maja", "Agnes", "Ida",
    "Björn", "Åke", "Göran", "Lars", "Anders", "Johan", "Per", "Erik", "Karl",
    "Mikael", "Jörgen", "Östen", "Örjan", "Håkan", "Stig", "Nils", "Olof", "Mats",
    "Gunnel", "Birgitta", "Margareta", "Jönsi", "Torbjörn", "Sören", "Kåre", "Pär",
]
LAST = [
    "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson",
    "Olsson", "Persson", "Svensson", "Gustafsson", "Pettersson", "Jonsson",
    "Jansson", "Hansson", "Bengtsson", "Jönsson", "Lindberg", "Jakobsson",
    "Magnusson", "Lindström", "Olofsson", "Lindqvist", "Lindgren", "Berg",
    "Axelsson", "Bergström", "Lundberg", "Lundgren", "Sjöberg", "Åberg",
    "Ström", "Wallin", "Engström", "Ekström", "Häggström", "Öberg", "Nyström",
    "Holmén", "Sjögren", "Åkesson", "Löfgren", "Hellström", "Björk", "Dahlén",
]
STREETS = [
    "Storgatan", "Drottninggatan", "Kungsgatan", "Skolgatan", "Järnvägsgatan",
    "Åsgatan", "Södra vägen", "Östra Långgatan", "Björkvägen", "Hästhagsvägen",
    "Källvägen", "Ängsvägen", "Sjövägen", "Götgatan", "Backavägen", "Örnvägen",
    "Trädgårdsgatan", "Kyrkogatan", "Mölndalsvägen", "Strandvägen",
]
# (city, area code, first digits of its postal codes)
CITIES = [
    ("Stockholm", "8", "11"), ("Solna", "8", "16"), ("Södertälje", "8", "15"),
    ("Göteborg", "31", "41"), ("Mölndal", "31", "43"), ("Malmö", "40", "21"),
    ("Lund", "46", "22"), ("Uppsala", "18", "75"), ("Västerås", "21", "72"),
    ("Örebro", "19", "70"), ("Linköping", "13", "58"), ("Norrköping", "11", "60"),
    ("Jönköping", "36", "55"), ("Umeå", "90", "90"), ("Gävle", "26", "80"),
    ("Borås", "33", "50"), ("Växjö", "470", "35"), ("Luleå", "920", "97"),
    ("Östersund", "63", "83"), ("Skellefteå", "910", "93"), ("Åre", "647", "83"),
    ("Kalmar", "480", "39"), ("Karlstad", "54", "65"), ("Sundsvall", "60", "85"),
]
MOBILE_PREFIXES = ["70", "72", "73", "76", "79"]
PRODUCTS = ["Bredband 100", "Bredband 500", "Mobil Bas", "Mobil Plus", "TV Start", "El Fast"]
SOURCES = ["Mässa Älvsjö 2025", "Webbformulär", "Kundregister", "Tävling sommar", "Värvning"]


def spaced_groups(digits, sizes):
    out, i = [], 0
    for size in sizes:
        out.append(digits[i:i + size])
        i += size
    if i < len(digits):
        out.append(digits[i:])
    return " ".join(part for part in out if part)


def mobile(rng):
    """A mobile number: (prefix, subscriber digits)."""
    return rng.choice(MOBILE_PREFIXES), "%07d" % rng.randrange(10**7)


def landline(rng, area):
    """A landline number of the city: (area code, subscriber digits)."""
    length = 9 - len(area)  # Swedish national numbers have 9 digits after the 0
    first = str(rng.randrange(2, 10))
    return area, first + "".join(str(rng.randrange(10)) for _ in range(length - 1))


def written(rng, prefix, sub):
    """One of the forms people type numbers in."""
    national = "0" + prefix + sub
    form = rng.randrange(10)
    if form == 0:  # 070-123 45 67 / 08-123 456 78
        return "0%s-%s" % (prefix, spaced_groups(sub, [3, 2, 2] if len(sub) == 7 else [3, 3]))
    if form == 1:  # 0701234567
        return national
    if form == 2:  # +46 70 123 45 67
        return "+46 %s %s" % (prefix, spaced_groups(sub, [3, 2, 2]))
    if form == 3:  # +46701234567
        return "+46" + prefix + sub
    if form == 4:  # 0046701234567
        return "0046" + prefix + sub
    if form == 5:  # 46701234567 (exported as a number, lost its plus)
        return "46" + prefix + sub
    if form == 6:  # +46(0)70-123 45 67
        return "+46(0)%s-%s" % (prefix, spaced_groups(sub, [3, 2, 2]))
    if form == 7:  # 070/123 45 67
        return "0%s/%s" % (prefix, sub)
    if form == 8:  # 070 - 12 34 567
        return "0%s - %s" % (prefix, spaced_groups(sub, [2, 2, 3]))
    return "0%s-%s" % (prefix, sub)  # 070-1234567


def national_form(number):
    """The plain national form the register writes (0701234567), or None
    for a number that is not one of the well-formed ones."""
    digits = "".join(c for c in number if c.isdigit())
    if number.startswith("+46(0)"):
        digits = digits[3:]
    elif digits.startswith("0046"):
        digits = digits[4:]
    elif digits.startswith("46"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = digits[1:]
    else:
        return None
    if len(digits) != 9 or digits.startswith("0"):
        return None
    return "0" + digits


def invalid(rng):
    return rng.choice([
        "070-123", "08-12", "0701234567890", "ej nummer", "saknas", "123",
        "+46 00 000 00", "070-ABC DE FG", "0000000000", "+99 123 456",
    ])


def main():
    rng = random.Random(SEED)
    header = [
        "Kundnr", "Förnamn", "Efternamn", "Gatuadress", "Postnr", "Ort",
        "Telefon", "Mobil", "Födelseår", "Nuvarande abonnemang", "Källa", "Kommentar",
    ]
    rows = []
    dnc = []
    for i in range(ROWS):
        first = rng.choice(FIRST)
        last = rng.choice(LAST)
        city, area, postal = rng.choice(CITIES)
        street = "%s %d" % (rng.choice(STREETS), rng.randrange(1, 120))
        if rng.random() < 0.1:
            street += " lgh %d" % rng.randrange(1001, 1400)
        postcode = "%s%d %02d" % (postal, rng.randrange(0, 10), rng.randrange(0, 100))
        phone, mob = "", ""
        kind = rng.random()
        if kind < 0.50:
            mob = written(rng, *mobile(rng))
        elif kind < 0.75:
            phone = written(rng, *landline(rng, area))
        elif kind < 0.95:
            phone = written(rng, *landline(rng, area))
            mob = written(rng, *mobile(rng))
        if rng.random() < 0.015:  # a typo or a placeholder instead of a number
            if mob:
                mob = invalid(rng)
            else:
                phone = invalid(rng)
        if kind >= 0.95 and rng.random() < 0.7:  # no number at all
            phone, mob = "", ""
        elif kind >= 0.95:
            mob = written(rng, *mobile(rng))
        comment = rng.choice(["", "", "", "Ring efter 17", "Har redan fiber", "Återkom i vår",
                              "Önskar mejl först", "Flyttar snart"])
        rows.append([
            str(100000 + i), first, last, street, postcode, city, phone, mob,
            str(rng.randrange(1935, 2004)), rng.choice(PRODUCTS), rng.choice(SOURCES), comment,
        ])
        # About 3% of numbers are registered with NIX.
        for number in (phone, mob):
            national = national_form(number)
            if national and rng.random() < 0.03:
                dnc.append(national)
    # Duplicates: the client merged two exports, so some people come twice,
    # once with the number written another way.
    for _ in range(ROWS // 50):
        source = list(rng.choice(rows))
        source[0] = str(100000 + len(rows))
        rows.insert(rng.randrange(len(rows)), source)

    out_dir = os.path.dirname(os.path.abspath(__file__))
    csv_text = ";".join(header) + "\r\n"
    for row in rows:
        csv_text += ";".join(quote(v) for v in row) + "\r\n"
    # The register holds many more people than the list: numbers that are
    # not in it at all.
    for _ in range(300):
        prefix, sub = mobile(rng)
        dnc.append("0" + prefix + sub)
    nix_numbers = dnc
    nix_text = "# NIX-Telefon extract (made up for the ringa demo)\n"
    nix_text += "# one number a line, national form\n"
    nix_text += "".join(n + "\n" for n in sorted(set(nix_numbers)))
    files = {
        "contacts.csv": csv_text.encode("cp1252"),
        "nix.txt": nix_text.encode("ascii"),
    }
    check = "--check" in sys.argv[1:]
    differ = False
    for name, data in files.items():
        path = os.path.join(out_dir, name)
        if check:
            with open(path, "rb") as f:
                if f.read() != data:
                    print("%s differs from what the script writes" % path)
                    differ = True
        else:
            with open(path, "wb") as f:
                f.write(data)
            print("wrote %s (%d bytes)" % (path, len(data)))
    return 1 if differ else 0


def quote(value):
    if any(c in value for c in ';"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


if __name__ == "__main__":
    sys.exit(main())
