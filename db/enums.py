"""The closed vocabularies of the data model; stored as text with CHECK constraints."""

from enum import StrEnum


class Role(StrEnum):
    USER = "USER"
    ADMIN = "ADMIN"


class ApiScope(StrEnum):
    READ = "READ"
    TRADE = "TRADE"


class MarketStatus(StrEnum):
    OPEN = "OPEN"
    HALTED = "HALTED"
    CLOSED = "CLOSED"
    RESOLVED = "RESOLVED"
    VOIDED = "VOIDED"


class Outcome(StrEnum):
    YES = "YES"
    NO = "NO"


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderKind(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


class TimeInForce(StrEnum):
    GTC = "GTC"
    GTD = "GTD"
    IOC = "IOC"
    FOK = "FOK"


class SelfTradePrevention(StrEnum):
    CANCEL_RESTING = "CANCEL_RESTING"
    CANCEL_TAKER = "CANCEL_TAKER"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    OPEN = "OPEN"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


class TradeKind(StrEnum):
    TRANSFER_YES = "TRANSFER_YES"
    TRANSFER_NO = "TRANSFER_NO"
    MINT = "MINT"
    MERGE = "MERGE"


class CommandKind(StrEnum):
    PLACE = "PLACE"
    CANCEL = "CANCEL"
    AMEND = "AMEND"
    CANCEL_ALL = "CANCEL_ALL"
    HALT = "HALT"
    RESUME = "RESUME"
    CLOSE = "CLOSE"
    RESOLVE = "RESOLVE"


class Asset(StrEnum):
    CASH = "CASH"
    YES = "YES"
    NO = "NO"


class LedgerAccount(StrEnum):
    """Who holds an asset in a ledger entry. EXTERNAL is the world outside the exchange."""

    EXTERNAL = "EXTERNAL"
    USER_AVAILABLE = "USER_AVAILABLE"
    USER_RESERVED = "USER_RESERVED"
    MARKET_COLLATERAL = "MARKET_COLLATERAL"
    MARKET_ISSUANCE = "MARKET_ISSUANCE"


class EntryKind(StrEnum):
    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    CREDIT = "CREDIT"
    RESERVE = "RESERVE"
    RELEASE = "RELEASE"
    TRADE = "TRADE"
    PAYOUT = "PAYOUT"
