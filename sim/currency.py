"""Currencies: the ISO 4217 codes a scenario's money may be counted in.

A scenario's amounts (principals, fees, contact and recovery costs) are in one currency, named
by its ``currency`` field; the engine never reads it, the tables and reports print it. The
list is ISO 4217's active currency codes (List One, as amended to 2025), without the fund codes
(``BOV``, ``CHE``, ``CHW``, ``CLF``, ``COU``, ``MXV``, ``USN``, ``UYI``, ``UYW``), the precious
metals, the SDR and the testing codes (``XAU``, ``XDR``, ``XTS``, ``XXX``...): a loan book is
lent in money.
"""

from __future__ import annotations

#: The default currency: the shipped parameters (costs, principals) are US dollars.
DEFAULT_CURRENCY = "USD"

#: ISO 4217 alphabetic codes of circulating currencies.
ISO_4217: frozenset[str] = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD
    FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
    KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP
    MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR
    RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT
    TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER
    ZAR ZMW ZWG
    """.split()
)


def check_currency(code: str) -> str:
    """``code`` in capitals if it is an ISO 4217 currency code; ``ValueError`` otherwise.

    Examples
    --------
    >>> check_currency("eur")
    'EUR'
    """
    if not isinstance(code, str):
        raise ValueError("must be an ISO 4217 currency code such as USD, EUR or CNY")
    up = code.strip().upper()
    if up not in ISO_4217:
        raise ValueError(
            f"{code!r} is not an ISO 4217 currency code; use the three-letter code of the "
            "currency the scenario's amounts are in, such as USD (the default), EUR, GBP or CNY"
        )
    return up
