"""Server versions at which a message layout changes (the numbers IB's clients call
``MIN_SERVER_VER_*``), for the range this package implements, plus the protobuf frontier."""

from __future__ import annotations

# The range the simulator implements and ib_async offers: 157 is also the newest version the
# official ibapi 9.81 knows, so both generations of clients meet it.
REPLACE_FA_END = 157
DURATION = 158
MARKET_DATA_IN_SHARES = 159
POST_TO_ATS = 160
WSHE_CALENDAR = 161
AUTO_CANCEL_PARENT = 162
FRACTIONAL_SIZE_SUPPORT = 163
SIZE_RULES = 164
HISTORICAL_SCHEDULE = 165
ADVANCED_ORDER_REJECT = 166
USER_INFO = 167
CRYPTO_AGGREGATED_TRADES = 168
MANUAL_ORDER_TIME = 169
PEGBEST_PEGMID_OFFSETS = 170
WSH_EVENT_DATA_FILTERS = 171
IPO_PRICES = 172
WSH_EVENT_DATA_FILTERS_DATE = 173
INSTRUMENT_TIMEZONE = 174
HMDS_MARKET_DATA_IN_SHARES = 175
BOND_ISSUERID = 176
FA_PROFILE_DESUPPORT = 177
PENDING_PRICE_REVISION = 178

# From here on a Gateway may send protobuf payloads (see the package docstring).
PROTOBUF = 201
LAST_TEXT_ONLY = PROTOBUF - 1

# What the simulator serves: every layout decision in between is implemented and tested.
IMPLEMENTED_MIN = REPLACE_FA_END
IMPLEMENTED_MAX = PENDING_PRICE_REVISION
