"""OKX v5 REST responses and WebSocket messages copied from OKX's own v5 API documentation, for respx fixtures.

Each constant has a comment above it naming where it came from:

* ``SPEC <file>``: the docs "Response Example" block, as stored in ``openxapi/openxapi``
  ``specs/okx/openapi/rest/<file>`` (the ``example:`` field is the docs block copied over).
* ``DOCS-HTML``: the snapshot of https://www.okx.com/docs-v5/en/ stored in ``openxapi/openxapi``
  ``samples/okx/rest/https_www.okx.com_docs-v5_en_#public-data.html`` (the whole single-page docs).
* ``EEA-DOCS <path>``: the EEA copy of the docs in ``arakinyemi/exchange-api-docs`` ``OKX/<path>``.
* ``CONSTRUCTED``: the docs print no example for this message. Its shape comes from the docs parameter table, and
  any text comes from the docs error-code table, unless the comment says otherwise. Nothing outside the docs is
  added except where a comment says so.

Values are kept exactly as the docs print them: numbers stay strings, ``checksum``/``seqId``/``curPage`` stay
ints, and booleans stay booleans. The docs examples do not share ids with one another (see the notes in comments),
so a test that chains calls should key on each constant's own ids and not assume one order id across endpoints.

Usage: ``tests/``, ``tests/unit/`` and ``tests/unit/okx/`` are packages (each has an ``__init__.py``), and pytest
runs in its default ``prepend`` import mode, so it puts the repository root on ``sys.path`` and imports test modules
as ``tests.unit.okx.test_*``. Import this module as ``from tests.unit.okx.payloads import PLACE_ORDER_OK`` (or
``from .payloads import ...`` from a test module in this directory). A bare ``from payloads import ...`` works only if
those ``__init__.py`` files are removed.

Standard library only: this module imports nothing.
"""

# ---------------------------------------------------------------------------------------------------------------
# REST: public data and market data
# ---------------------------------------------------------------------------------------------------------------

# SPEC get_api_v5_public_time.yaml (docs "GET / System time" response example).
PUBLIC_TIME = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "ts": "1597026383085",
        }
    ],
}

# SPEC get_api_v5_public_instruments.yaml (docs "GET / Instruments" response example; the only example the docs
# print, and it is SPOT). Note "lever": "10" on a SPOT row, and "futureSettlement" is a JSON boolean.
INSTRUMENTS_SPOT = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "alias": "",
            "auctionEndTime": "",
            "baseCcy": "BTC",
            "category": "1",
            "ctMult": "",
            "ctType": "",
            "ctVal": "",
            "ctValCcy": "",
            "expTime": "",
            "futureSettlement": False,
            "instFamily": "",
            "instId": "BTC-USDT",
            "instType": "SPOT",
            "lever": "10",
            "listTime": "1606468572000",
            "lotSz": "0.00000001",
            "maxIcebergSz": "9999999999.0000000000000000",
            "maxLmtAmt": "1000000",
            "maxLmtSz": "9999999999",
            "maxMktAmt": "1000000",
            "maxMktSz": "",
            "maxStopSz": "",
            "maxTriggerSz": "9999999999.0000000000000000",
            "maxTwapSz": "9999999999.0000000000000000",
            "minSz": "0.00001",
            "optType": "",
            "quoteCcy": "USDT",
            "settleCcy": "",
            "state": "live",
            "ruleType": "normal",
            "stk": "",
            "tickSz": "0.1",
            "uly": "",
        }
    ],
}

# CONSTRUCTED: the docs print NO SWAP example for GET /api/v5/public/instruments (REST, WS instruments channel and
# account/instruments examples are all SPOT). The key set is exactly the docs' SPOT example above, so no
# undocumented field is added. The values are the BTC-USDT-SWAP row of a live-recorded public fixture (a C# test
# file in the search index, file id 68284932066, "recorded live"). Its shape is confirmed by gocryptotrader
# exchanges/okx/okx_test.go `instrumentJSON` (a live BTC-USDC-SWAP row): for SWAP, baseCcy and quoteCcy are "", and
# uly/instFamily/settleCcy/ctVal/ctValCcy/ctType are filled. Live rows also carry newer fields that this docs
# snapshot does not have (instIdCode, contTdSwTime, openType, groupId, ...): these are left out.
# SWAP lotSz/minSz are CONTRACTS; one contract = ctVal (0.01) BTC.
INSTRUMENTS_SWAP = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "alias": "",
            "auctionEndTime": "",
            "baseCcy": "",
            "category": "1",
            "ctMult": "1",
            "ctType": "linear",
            "ctVal": "0.01",
            "ctValCcy": "BTC",
            "expTime": "",
            "futureSettlement": False,
            "instFamily": "BTC-USDT",
            "instId": "BTC-USDT-SWAP",
            "instType": "SWAP",
            "lever": "100",
            "listTime": "1573557408000",
            "lotSz": "0.01",
            "maxIcebergSz": "100000000.0000000000000000",
            "maxLmtAmt": "20000000",
            "maxLmtSz": "100000000",
            "maxMktAmt": "",
            "maxMktSz": "35000",
            "maxStopSz": "35000",
            "maxTriggerSz": "100000000.0000000000000000",
            "maxTwapSz": "100000000.0000000000000000",
            "minSz": "0.01",
            "optType": "",
            "quoteCcy": "",
            "settleCcy": "USDT",
            "state": "live",
            "ruleType": "normal",
            "stk": "",
            "tickSz": "0.1",
            "uly": "BTC-USDT",
        }
    ],
}

# SPEC get_api_v5_market_ticker.yaml (docs "GET / Ticker" response example). The docs use BTC-USD-SWAP
# (an inverse swap), not BTC-USDT.
MARKET_TICKER = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "instType": "SWAP",
            "instId": "BTC-USD-SWAP",
            "last": "9999.99",
            "lastSz": "0.1",
            "askPx": "9999.99",
            "askSz": "11",
            "bidPx": "8888.88",
            "bidSz": "5",
            "open24h": "9000",
            "high24h": "10000",
            "low24h": "8888.88",
            "volCcy24h": "2222",
            "vol24h": "2222",
            "sodUtc0": "2222",
            "sodUtc8": "2222",
            "ts": "1597026383085",
        }
    ],
}

# SPEC get_api_v5_market_tickers.yaml (docs "GET / Tickers" response example, 2 rows).
MARKET_TICKERS = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "instType": "SWAP",
            "instId": "LTC-USD-SWAP",
            "last": "9999.99",
            "lastSz": "1",
            "askPx": "9999.99",
            "askSz": "11",
            "bidPx": "8888.88",
            "bidSz": "5",
            "open24h": "9000",
            "high24h": "10000",
            "low24h": "8888.88",
            "volCcy24h": "2222",
            "vol24h": "2222",
            "sodUtc0": "0.1",
            "sodUtc8": "0.1",
            "ts": "1597026383085",
        },
        {
            "instType": "SWAP",
            "instId": "BTC-USD-SWAP",
            "last": "9999.99",
            "lastSz": "1",
            "askPx": "9999.99",
            "askSz": "11",
            "bidPx": "8888.88",
            "bidSz": "5",
            "open24h": "9000",
            "high24h": "10000",
            "low24h": "8888.88",
            "volCcy24h": "2222",
            "vol24h": "2222",
            "sodUtc0": "0.1",
            "sodUtc8": "0.1",
            "ts": "1597026383085",
        },
    ],
}

# SPEC get_api_v5_market_books.yaml (docs "GET / Order book" response example). Each level is
# [price, size, "0" (deprecated), number of orders]. The docs example has no instId in data.
MARKET_BOOKS = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "asks": [["41006.8", "0.60038921", "0", "1"]],
            "bids": [["41006.3", "0.30178218", "0", "2"]],
            "ts": "1629966436396",
        }
    ],
}

# ---------------------------------------------------------------------------------------------------------------
# REST: trade. Ids do NOT line up across the docs blocks:
#   place order    -> ordId "312269865356374016", clOrdId "oktswap6"
#   batch / cancel / cancel-batch -> "12345689" (oktswap6) and "12344" (oktswap7); amend -> "12344" (reqId "b12344")
#   GET order, orders-history, fills, fills-history -> ordId "680800019749904384", tradeId "744876980" (same SPOT
#                                                       market buy in all four)
#   orders-pending -> "1752588852617379840";  WS orders push -> "452197707845865472"
# ---------------------------------------------------------------------------------------------------------------

# SPEC post_api_v5_trade_order.yaml (docs "POST / Place order" response example). Note the docs print sMsg "";
# the live venue says "Order placed" (seen in ccxt ts/src/test/static/response/okx.json).
PLACE_ORDER_OK = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "clOrdId": "oktswap6",
            "ordId": "312269865356374016",
            "tag": "",
            "ts": "1695190491421",
            "sCode": "0",
            "sMsg": "",
        }
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# CONSTRUCTED from PLACE_ORDER_OK with code "1" (docs table: "1 | 200 | Operation failed.") and item
# sCode "51008" with the docs table's first 51008 text, {param0} filled with USDT. The top-level msg is the live
# text "All operations failed" (many public captures, e.g. ccxt ts/src/okx.ts comments), which differs from the
# docs table text "Operation failed."; a failed placement carries ordId "" on the wire.
PLACE_ORDER_FAIL_51008 = {
    "code": "1",
    "msg": "All operations failed",
    "data": [
        {
            "clOrdId": "oktswap6",
            "ordId": "",
            "tag": "",
            "ts": "1695190491421",
            "sCode": "51008",
            "sMsg": "Order failed. Insufficient USDT balance in account",
        }
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# SPEC post_api_v5_trade_batch-orders.yaml (docs "POST / Place multiple orders" response example).
BATCH_ORDERS_OK = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "clOrdId": "oktswap6",
            "ordId": "12345689",
            "tag": "",
            "ts": "1695190491421",
            "sCode": "0",
            "sMsg": "",
        },
        {
            "clOrdId": "oktswap7",
            "ordId": "12344",
            "tag": "",
            "ts": "1695190491421",
            "sCode": "0",
            "sMsg": "",
        },
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# SPEC post_api_v5_trade_cancel-order.yaml (docs "POST / Cancel order" response example). No "tag" in the items.
CANCEL_ORDER_OK = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "clOrdId": "oktswap6",
            "ordId": "12345689",
            "ts": "1695190491421",
            "sCode": "0",
            "sMsg": "",
        }
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# SPEC post_api_v5_trade_cancel-batch-orders.yaml (docs "POST / Cancel multiple orders" response example).
CANCEL_BATCH_ORDERS_OK = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "clOrdId": "oktswap6",
            "ordId": "12345689",
            "ts": "1695190491421",
            "sCode": "0",
            "sMsg": "",
        },
        {
            "clOrdId": "oktswap7",
            "ordId": "12344",
            "ts": "1695190491421",
            "sCode": "0",
            "sMsg": "",
        },
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# SPEC post_api_v5_trade_amend-order.yaml (docs "POST / Amend order" response example).
AMEND_ORDER_OK = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "clOrdId": "",
            "ordId": "12344",
            "ts": "1695190491421",
            "reqId": "b12344",
            "sCode": "0",
            "sMsg": "",
        }
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# SPEC get_api_v5_trade_order.yaml (docs "GET / Order details" response example): a filled SPOT market buy with
# sz "100" in quote (tgtCcy quote_ccy) and accFillSz in base. reduceOnly/isTpLimit are strings.
GET_ORDER = {
    "code": "0",
    "data": [
        {
            "accFillSz": "0.00192834",
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": "51858",
            "cTime": "1708587373361",
            "cancelSource": "",
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": "",
            "fee": "-0.00000192834",
            "feeCcy": "BTC",
            "fillPx": "51858",
            "fillSz": "0.00192834",
            "fillTime": "1708587373361",
            "instId": "BTC-USDT",
            "instType": "SPOT",
            "isTpLimit": "false",
            "lever": "",
            "linkedAlgoOrd": {"algoId": ""},
            "ordId": "680800019749904384",
            "ordType": "market",
            "pnl": "0",
            "posSide": "net",
            "px": "",
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": "USDT",
            "reduceOnly": "false",
            "side": "buy",
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": "filled",
            "stpId": "",
            "stpMode": "",
            "sz": "100",
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "quote_ccy",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": "744876980",
            "uTime": "1708587373362",
        }
    ],
    "msg": "",
}

# SPEC get_api_v5_trade_orders-pending.yaml (docs "GET / Order List" response example): a live post_only buy.
ORDERS_PENDING = {
    "code": "0",
    "data": [
        {
            "accFillSz": "0",
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": "",
            "cTime": "1724733617998",
            "cancelSource": "",
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": "",
            "fee": "0",
            "feeCcy": "BTC",
            "fillPx": "",
            "fillSz": "0",
            "fillTime": "",
            "instId": "BTC-USDT",
            "instType": "SPOT",
            "isTpLimit": "false",
            "lever": "",
            "linkedAlgoOrd": {"algoId": ""},
            "ordId": "1752588852617379840",
            "ordType": "post_only",
            "pnl": "0",
            "posSide": "net",
            "px": "13013.5",
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": "USDT",
            "reduceOnly": "false",
            "side": "buy",
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": "live",
            "stpId": "",
            "stpMode": "cancel_maker",
            "sz": "0.001",
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": "",
            "uTime": "1724733617998",
        }
    ],
    "msg": "",
}

# SPEC get_api_v5_trade_orders-history.yaml (docs "GET / Order history (last 7 days)" response example). Same
# order as GET_ORDER except posSide "" (GET_ORDER has "net") and isTpLimit printed last.
ORDERS_HISTORY = {
    "code": "0",
    "data": [
        {
            "accFillSz": "0.00192834",
            "algoClOrdId": "",
            "algoId": "",
            "attachAlgoClOrdId": "",
            "attachAlgoOrds": [],
            "avgPx": "51858",
            "cTime": "1708587373361",
            "cancelSource": "",
            "cancelSourceReason": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": "",
            "fee": "-0.00000192834",
            "feeCcy": "BTC",
            "fillPx": "51858",
            "fillSz": "0.00192834",
            "fillTime": "1708587373361",
            "instId": "BTC-USDT",
            "instType": "SPOT",
            "lever": "",
            "linkedAlgoOrd": {"algoId": ""},
            "ordId": "680800019749904384",
            "ordType": "market",
            "pnl": "0",
            "posSide": "",
            "px": "",
            "pxType": "",
            "pxUsd": "",
            "pxVol": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": "USDT",
            "reduceOnly": "false",
            "side": "buy",
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "",
            "source": "",
            "state": "filled",
            "stpId": "",
            "stpMode": "",
            "sz": "100",
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "quote_ccy",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "",
            "tradeId": "744876980",
            "uTime": "1708587373362",
            "isTpLimit": "false",
        }
    ],
    "msg": "",
}

# SPEC get_api_v5_trade_fills.yaml (docs "GET / Transaction details (last 3 days)" response example). The fill of
# GET_ORDER: fee negative = charged; feeCcy BTC (base) on a spot buy.
FILLS = {
    "code": "0",
    "data": [
        {
            "side": "buy",
            "fillSz": "0.00192834",
            "fillPx": "51858",
            "fillPxVol": "",
            "fillFwdPx": "",
            "fee": "-0.00000192834",
            "fillPnl": "0",
            "ordId": "680800019749904384",
            "feeRate": "-0.001",
            "instType": "SPOT",
            "fillPxUsd": "",
            "instId": "BTC-USDT",
            "clOrdId": "",
            "posSide": "net",
            "billId": "680800019754098688",
            "subType": "1",
            "fillMarkVol": "",
            "tag": "",
            "fillTime": "1708587373361",
            "execType": "T",
            "fillIdxPx": "",
            "tradeId": "744876980",
            "fillMarkPx": "",
            "feeCcy": "BTC",
            "ts": "1708587373362",
        }
    ],
    "msg": "",
}

# SPEC get_api_v5_trade_fills-history.yaml (docs "GET / Transaction details (last 3 months)" response example):
# the docs print the very same fill as FILLS.
FILLS_HISTORY = {
    "code": "0",
    "data": [
        {
            "side": "buy",
            "fillSz": "0.00192834",
            "fillPx": "51858",
            "fillPxVol": "",
            "fillFwdPx": "",
            "fee": "-0.00000192834",
            "fillPnl": "0",
            "ordId": "680800019749904384",
            "feeRate": "-0.001",
            "instType": "SPOT",
            "fillPxUsd": "",
            "instId": "BTC-USDT",
            "clOrdId": "",
            "posSide": "net",
            "billId": "680800019754098688",
            "subType": "1",
            "fillMarkVol": "",
            "tag": "",
            "fillTime": "1708587373361",
            "execType": "T",
            "fillIdxPx": "",
            "tradeId": "744876980",
            "fillMarkPx": "",
            "feeCcy": "BTC",
            "ts": "1708587373362",
        }
    ],
    "msg": "",
}

# SPEC post_api_v5_trade_cancel-all-after.yaml (docs "POST / Cancel All After" response example; identical in
# EEA-DOCS Order_Book_Trading/Trade/Post_Cancel_All_After.md, whose request example is {"timeOut":"60"}).
# triggerTime/ts are 10-digit values 60 apart, i.e. Unix SECONDS matching timeOut "60"; the docs never state the
# unit in words.
CANCEL_ALL_AFTER = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "triggerTime": "1587971460",
            "tag": "",
            "ts": "1587971400",
        }
    ],
}

# ---------------------------------------------------------------------------------------------------------------
# REST: account
# ---------------------------------------------------------------------------------------------------------------

# SPEC get_api_v5_account_balance.yaml (docs "GET / Balance" response example). One details[] row (USDT);
# "collateralEnabled" is a JSON boolean.
ACCOUNT_BALANCE = {
    "code": "0",
    "data": [
        {
            "adjEq": "55415.624719833286",
            "borrowFroz": "0",
            "details": [
                {
                    "availBal": "4834.317093622894",
                    "availEq": "4834.3170936228935",
                    "borrowFroz": "0",
                    "cashBal": "4850.435693622894",
                    "ccy": "USDT",
                    "crossLiab": "0",
                    "collateralEnabled": False,
                    "disEq": "4991.542013297616",
                    "eq": "4992.890093622894",
                    "eqUsd": "4991.542013297616",
                    "smtSyncEq": "0",
                    "spotCopyTradingEq": "0",
                    "fixedBal": "0",
                    "frozenBal": "158.573",
                    "imr": "",
                    "interest": "0",
                    "isoEq": "0",
                    "isoLiab": "0",
                    "isoUpl": "0",
                    "liab": "0",
                    "maxLoan": "0",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalLever": "",
                    "ordFrozen": "0",
                    "rewardBal": "0",
                    "spotInUseAmt": "",
                    "clSpotInUseAmt": "",
                    "maxSpotInUse": "",
                    "spotIsoBal": "0",
                    "stgyEq": "150",
                    "twap": "0",
                    "uTime": "1705449605015",
                    "upl": "-7.545600000000006",
                    "uplLiab": "0",
                    "spotBal": "",
                    "openAvgPx": "",
                    "accAvgPx": "",
                    "spotUpl": "",
                    "spotUplRatio": "",
                    "totalPnl": "",
                    "totalPnlRatio": "",
                }
            ],
            "imr": "0",
            "isoEq": "0",
            "mgnRatio": "",
            "mmr": "0",
            "notionalUsd": "0",
            "notionalUsdForBorrow": "0",
            "notionalUsdForFutures": "0",
            "notionalUsdForOption": "0",
            "notionalUsdForSwap": "0",
            "ordFroz": "",
            "totalEq": "55837.43556134779",
            "uTime": "1705474164160",
            "upl": "0",
        }
    ],
    "msg": "",
}

# SPEC get_api_v5_account_positions.yaml (docs "GET / Positions" response example). NOTE: the docs example is an
# isolated MARGIN position on BTC-USDT (posCcy BTC, liab/liabCcy set), not a SWAP position; see WS_POSITIONS_PUSH
# for documented FUTURES/SWAP rows. The docs say positions come "in reverse chronological order using ctime".
ACCOUNT_POSITIONS = {
    "code": "0",
    "data": [
        {
            "adl": "1",
            "availPos": "0.00190433573",
            "avgPx": "62961.4",
            "baseBal": "",
            "baseBorrowed": "",
            "baseInterest": "",
            "bePx": "",
            "bizRefId": "",
            "bizRefType": "",
            "cTime": "1724740225685",
            "ccy": "BTC",
            "clSpotInUseAmt": "",
            "closeOrderAlgo": [],
            "deltaBS": "",
            "deltaPA": "",
            "fee": "",
            "fundingFee": "",
            "gammaBS": "",
            "gammaPA": "",
            "idxPx": "62890.5",
            "imr": "",
            "instId": "BTC-USDT",
            "instType": "MARGIN",
            "interest": "0",
            "last": "62892.9",
            "lever": "5",
            "liab": "-99.9998177776581948",
            "liabCcy": "USDT",
            "liqPenalty": "",
            "liqPx": "53615.448336593756",
            "margin": "0.000317654",
            "markPx": "62891.9",
            "maxSpotInUseAmt": "",
            "mgnMode": "isolated",
            "mgnRatio": "9.404143929947395",
            "mmr": "0.0000318005395854",
            "notionalUsd": "119.756628017499",
            "optVal": "",
            "pendingCloseOrdLiabVal": "0",
            "pnl": "",
            "pos": "0.00190433573",
            "posCcy": "BTC",
            "posId": "1752810569801498626",
            "posSide": "net",
            "quoteBal": "",
            "quoteBorrowed": "",
            "quoteInterest": "",
            "realizedPnl": "",
            "spotInUseAmt": "",
            "spotInUseCcy": "",
            "thetaBS": "",
            "thetaPA": "",
            "tradeId": "785524470",
            "uTime": "1724742632153",
            "upl": "-0.0000033452492717",
            "uplLastPx": "-0.0000033199677697",
            "uplRatio": "-0.0105311101755551",
            "uplRatioLastPx": "-0.0104515220008934",
            "usdPx": "",
            "vegaBS": "",
            "vegaPA": "",
            "nonSettleAvgPx": "",
            "settledPnl": "",
        }
    ],
    "msg": "",
}

# SPEC get_api_v5_account_config.yaml (docs "GET / Account configuration" response example).
# autoLoan/enableSpotBorrow/spotBorrowAutoRepay are JSON booleans.
ACCOUNT_CONFIG = {
    "code": "0",
    "data": [
        {
            "acctLv": "2",
            "acctStpMode": "cancel_maker",
            "autoLoan": False,
            "ctIsoMode": "automatic",
            "enableSpotBorrow": False,
            "greeksType": "PA",
            "ip": "",
            "type": "0",
            "kycLv": "3",
            "label": "v5 test",
            "level": "Lv1",
            "levelTmp": "",
            "liquidationGear": "-1",
            "mainUid": "44705892343619584",
            "mgnIsoMode": "automatic",
            "opAuth": "1",
            "perm": "read_only,withdraw,trade",
            "posMode": "long_short_mode",
            "roleType": "0",
            "spotBorrowAutoRepay": False,
            "spotOffsetType": "",
            "spotRoleType": "0",
            "spotTraderInsts": [],
            "traderInsts": [],
            "uid": "44705892343619584",
        }
    ],
    "msg": "",
}

# ---------------------------------------------------------------------------------------------------------------
# REST: error codes. DOCS-HTML "Error Code > REST API" tables (global docs). Messages are copied verbatim,
# {param0} placeholders included; where a code has several rows, the first (general) row is used.
# ---------------------------------------------------------------------------------------------------------------

ERROR_MESSAGES = {
    "1": "Operation failed.",
    "2": "Bulk operation partially succeeded.",
    "50001": "Service temporarily unavailable. Please try again later.",
    "50004": (
        "API endpoint request timeout. (does not mean that the request was successful or failed, "
        "please check the request result)."
    ),
    # 50011 has two rows: 200 with this text, and 429 "Too Many Requests" (ERROR_MESSAGE_50011_HTTP_429).
    "50011": "Rate limit reached. Please refer to API documentation and throttle requests accordingly.",
    "50013": "Systems are busy. Please try again later.",
    "50026": "System error. Try again later",
    "50036": "The expTime can't be earlier than the current system time. Please adjust the expTime and try again.",
    "50037": "Order expired.",
    "50061": "You've reached the maximum order rate limit for this account.",
    "50101": "APIKey does not match current environment.",
    "50102": "Timestamp request expired.",
    "50105": 'Request header "OK-ACCESS-PASSPHRASE" incorrect.',
    "50111": "Invalid OK-ACCESS-KEY.",
    "50112": "Invalid OK-ACCESS-TIMESTAMP.",
    "50113": "Invalid signature.",
    "51000": "Parameter {param0} error",
    "51054": "Request timed out. Please try again.",
    "51149": "Order timed out. Please try again.",
    "51412": "Cancellation timed out, please try again later.",
    # The EEA copy (arakinyemi OKX/Error_Code/Rest_API/Public.md) and live traffic say
    # "Instrument ID or Spread ID doesn't exist." instead.
    "51001": "Instrument ID doesn't exist.",
    "51008": "Order failed. Insufficient {param0} balance in account",
    "51016": "Client order ID already exists.",
    "51020": "Your order should meet or exceed the minimum order amount.",
    "51121": "Order quantity must be a multiple of the lot size.",
    "51400": "Order cancellation failed as the order has been filled, canceled or does not exist.",
    "51401": "Cancellation failed as the order is already canceled. (Only applicable to Nitro Spread)",
    "51402": "Cancellation failed as the order is already completed. (Only applicable to Nitro Spread)",
    "51503": "Your order has already been filled or canceled.",
    "51603": "Order does not exist.",
}

# DOCS-HTML error table, "HTTP Status Code" column (50011 is listed twice: 200 and 429).
HTTP_STATUS = {
    "1": 200,
    "2": 200,
    "50001": 503,
    "50004": 400,
    "50011": 200,
    "50013": 429,
    "50026": 500,
    "51054": 500,
    "51149": 500,
    "51412": 200,  # two rows, both 200: "Cancellation timed out, …" and "… triggered and can't be canceled"
    "50036": 200,
    "50037": 200,
    "50061": 200,
    "50101": 401,
    "50102": 401,
    "50105": 401,
    "50111": 401,
    "50112": 401,
    "50113": 401,
    "51000": 400,
    "51001": 200,
    "51008": 200,
    "51016": 200,
    "51020": 200,
    "51121": 200,
    "51400": 200,
    "51401": 200,
    "51402": 200,
    "51503": 200,
    "51603": 200,
}

# DOCS-HTML: the second 50011 row.
ERROR_MESSAGE_50011_HTTP_429 = "Too Many Requests"
HTTP_STATUS_50011_TOO_MANY_REQUESTS = 429

# CONSTRUCTED (docs print no error bodies). Auth-class errors are sent WITHOUT "data" (field order as on the wire);
# the msg is the docs table text.
ERROR_50102_TIMESTAMP_EXPIRED = {"msg": "Timestamp request expired.", "code": "50102"}

# NOT DOCS: the body the live venue actually sends for 50102 (no trailing period, no data): fact sheet
# /work/shared/OKX-PROTOCOL.md section 2 and many public captures.
ERROR_50102_TIMESTAMP_EXPIRED_WIRE = {"msg": "Timestamp request expired", "code": "50102"}

# CONSTRUCTED: auth class, no "data"; docs table text.
ERROR_50113_INVALID_SIGN = {"msg": "Invalid signature.", "code": "50113"}

# CONSTRUCTED: docs table text; serve with HTTP_STATUS["50011"] (200).
ERROR_50011_RATE_LIMIT = {
    "code": "50011",
    "msg": "Rate limit reached. Please refer to API documentation and throttle requests accordingly.",
    "data": [],
}

# CONSTRUCTED: the 429 row of the docs table; serve with HTTP 429.
ERROR_50011_TOO_MANY_REQUESTS = {"code": "50011", "msg": "Too Many Requests", "data": []}

# CONSTRUCTED: docs table text; serve with HTTP 503.
ERROR_50001_SERVICE_UNAVAILABLE = {
    "code": "50001",
    "msg": "Service temporarily unavailable. Please try again later.",
    "data": [],
}

# CONSTRUCTED: docs table text; serve with HTTP 400. The outcome of the request is unknown.
ERROR_50004_ENDPOINT_TIMEOUT = {
    "code": "50004",
    "msg": (
        "API endpoint request timeout. (does not mean that the request was successful or failed, "
        "please check the request result)."
    ),
    "data": [],
}

# CONSTRUCTED: docs table "Parameter {param0} error" with {param0} = clOrdId (the live text for a bad clOrdId, per
# the fact sheet section 7); serve with HTTP 400.
ERROR_51000_PARAMETER = {"code": "51000", "msg": "Parameter clOrdId error", "data": []}

# CONSTRUCTED: docs table text (global docs); serve with HTTP 200.
ERROR_51001_INSTRUMENT_NOT_FOUND = {"code": "51001", "msg": "Instrument ID doesn't exist.", "data": []}

# CONSTRUCTED: GET /api/v5/trade/order for an unknown order; docs table text; HTTP 200.
ERROR_51603_ORDER_NOT_FOUND = {"code": "51603", "msg": "Order does not exist.", "data": []}

# CONSTRUCTED: a duplicate clOrdId on POST trade/order comes back per item (code "1", sCode 51016); ids from
# PLACE_ORDER_OK, docs table sMsg, live top-level msg (see PLACE_ORDER_FAIL_51008).
ERROR_51016_DUPLICATE_CLORDID = {
    "code": "1",
    "msg": "All operations failed",
    "data": [
        {
            "clOrdId": "oktswap6",
            "ordId": "",
            "tag": "",
            "ts": "1695190491421",
            "sCode": "51016",
            "sMsg": "Client order ID already exists.",
        }
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# CONSTRUCTED: cancel of a filled/canceled/unknown order, per item (code "1", sCode 51400); ids and keys from
# CANCEL_ORDER_OK, docs table sMsg.
ERROR_51400_CANCEL_FAILED = {
    "code": "1",
    "msg": "All operations failed",
    "data": [
        {
            "clOrdId": "oktswap6",
            "ordId": "12345689",
            "ts": "1695190491421",
            "sCode": "51400",
            "sMsg": "Order cancellation failed as the order has been filled, canceled or does not exist.",
        }
    ],
    "inTime": "1695190491421339",
    "outTime": "1695190491423240",
}

# ---------------------------------------------------------------------------------------------------------------
# WebSocket: login, subscribe, errors
# ---------------------------------------------------------------------------------------------------------------

# EEA-DOCS Introduction/WebSocket/Login.md (same as the global docs "Login" request example). timestamp is Unix
# SECONDS as a string; sign = Base64(HMAC_SHA256(secret, timestamp + "GET" + "/users/self/verify")).
WS_LOGIN_REQUEST = {
    "op": "login",
    "args": [
        {
            "apiKey": "******",
            "passphrase": "******",
            "timestamp": "1538054050",
            "sign": "7L+zFQ+CEgGu5rzCj4+BdV2/uUHGqddA9pI6ztsRRPs=",
        }
    ],
}

# EEA-DOCS Introduction/WebSocket/Login.md "Successful Response Example".
WS_LOGIN_OK = {"event": "login", "code": "0", "msg": "", "connId": "a4d3ae55"}

# EEA-DOCS Introduction/WebSocket/Login.md "Failure Response Example". The docs WS error table (DOCS-HTML) words
# 60009 as "Login failure"; the example prints "Login failed.".
WS_LOGIN_FAIL = {"event": "error", "code": "60009", "msg": "Login failed.", "connId": "a4d3ae55"}

# EEA-DOCS Introduction/WebSocket/Subscribe.md request and response examples (generic, tickers BTC-USDT).
WS_SUBSCRIBE_REQUEST = {"op": "subscribe", "args": [{"channel": "tickers", "instId": "BTC-USDT"}]}
WS_SUBSCRIBE_ACK = {"event": "subscribe", "arg": {"channel": "tickers", "instId": "BTC-USDT"}, "connId": "accb8e21"}

# EEA-DOCS Order_Book_Trading/Trade/Ws_Order_Channel.md "Request Example : Single" and its success response.
WS_SUBSCRIBE_ORDERS_REQUEST_DOC = {
    "id": "1512",
    "op": "subscribe",
    "args": [{"channel": "orders", "instType": "FUTURES", "instId": "BTC-USD-200329"}],
}
WS_SUBSCRIBE_ORDERS_ACK_DOC = {
    "id": "1512",
    "event": "subscribe",
    "arg": {"channel": "orders", "instType": "FUTURES", "instId": "BTC-USD-200329"},
    "connId": "a4d3ae55",
}

# CONSTRUCTED: the docs have no instType ANY example for "orders"; ANY is in the orders-channel parameter table
# (instType: SPOT, MARGIN, SWAP, FUTURES, OPTION, ANY). Shaped like the documented pair above, without "id".
WS_SUBSCRIBE_ORDERS_ANY_REQUEST = {"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]}
WS_SUBSCRIBE_ORDERS_ANY_ACK = {
    "event": "subscribe",
    "arg": {"channel": "orders", "instType": "ANY"},
    "connId": "a4d3ae55",
}

# DOCS-HTML "Positions channel" "Request Example" (instType ANY) and the matching "Successful Response Example". The
# global docs print these without "id". extraParams is a STRING holding JSON; the docs print it as a multi-line
# literal (not strictly valid JSON), reproduced here with its newlines and indentation.
WS_SUBSCRIBE_POSITIONS_REQUEST = {
    "op": "subscribe",
    "args": [
        {
            "channel": "positions",
            "instType": "ANY",
            "extraParams": '\n        {\n          "updateInterval": "0"\n        }\n      ',
        }
    ],
}
WS_SUBSCRIBE_POSITIONS_ACK = {
    "event": "subscribe",
    "arg": {"channel": "positions", "instType": "ANY"},
    "connId": "a4d3ae55",
}

# EEA-DOCS Trading_Account/WebSocket/Account_Channel.md "Request Example : single" and its success response
# (DOCS-HTML prints the same ack without "id").
WS_SUBSCRIBE_ACCOUNT_REQUEST = {"id": "1512", "op": "subscribe", "args": [{"channel": "account", "ccy": "BTC"}]}
WS_SUBSCRIBE_ACCOUNT_ACK = {
    "id": "1512",
    "event": "subscribe",
    "arg": {"channel": "account", "ccy": "BTC"},
    "connId": "a4d3ae55",
}

# EEA-DOCS Order_Book_Trading/Market_Data/Ws_Tickers_Channel.md request and success response.
WS_SUBSCRIBE_TICKERS_REQUEST = {"id": "1512", "op": "subscribe", "args": [{"channel": "tickers", "instId": "BTC-USDT"}]}
WS_SUBSCRIBE_TICKERS_ACK = {
    "id": "1512",
    "event": "subscribe",
    "arg": {"channel": "tickers", "instId": "BTC-USDT"},
    "connId": "a4d3ae55",
}

# EEA-DOCS Order_Book_Trading/Market_Data/Ws_Order_Book_Channel.md request and response.
WS_SUBSCRIBE_BOOKS_REQUEST = {"id": "1512", "op": "subscribe", "args": [{"channel": "books", "instId": "BTC-USDT"}]}
WS_SUBSCRIBE_BOOKS_ACK = {
    "id": "1512",
    "event": "subscribe",
    "arg": {"channel": "books", "instId": "BTC-USDT"},
    "connId": "a4d3ae55",
}

# DOCS-HTML "Positions channel" "Failure Response Example" (60012; the msg echoes the bad request text).
WS_ERROR_60012 = {
    "event": "error",
    "code": "60012",
    "msg": 'Invalid request: {"op": "subscribe", "argss":[{ "channel" : "positions", "instType" : "FUTURES"}]}',
    "connId": "a4d3ae55",
}

# NOT DOCS (no docs example exists): a live-recorded 60018 from the same public fixture as INSTRUMENTS_SWAP
# (search-index file id 68284932066), subscribing candle1m on the public URL. The docs table template is
# WS_ERROR_MESSAGES["60018"]. Note the field order code-after-msg, and no "arg".
WS_ERROR_60018 = {
    "event": "error",
    "msg": (
        "Subscribe failed, wrong URL or channel:candle1m,instId:BTC-USDT doesn't exist. "
        "Please use the correct URL, channel and parameters referring to API document."
    ),
    "code": "60018",
    "connId": "e1f69f02",
}

# DOCS-HTML "Error Code > WebSocket > Public" table (no HTTP status column).
WS_ERROR_MESSAGES = {
    "60006": "Timestamp request expired",
    "60007": "Invalid sign",
    "60009": "Login failure",
    "60011": "Please log in",
    "60012": "Invalid request",
    "60013": "Invalid args",
    "60014": "Requests too frequent",
    "60018": (
        "Wrong URL or {0} doesn't exist. Please use the correct URL, channel and parameters referring to API document."
    ),
    "60024": "Wrong passphrase",
}

# ---------------------------------------------------------------------------------------------------------------
# WebSocket: pushes
# ---------------------------------------------------------------------------------------------------------------

# DOCS-HTML "WS / Order channel" "Push Data Example: single": a filled SPOT maker sell (execType M), ordId
# "452197707845865472" (differs from every REST example), fillFee/fee negative = charged, lever "0", posSide "",
# amendResult/reqId "", code "0", msg "". The EEA copy (Ws_Order_Channel.md) also has "tradeQuoteCcy": "USDT",
# which this global snapshot does not print.
WS_ORDERS_PUSH = {
    "arg": {
        "channel": "orders",
        "instType": "SPOT",
        "instId": "BTC-USDT",
        "uid": "614488474791936",
    },
    "data": [
        {
            "accFillSz": "0.001",
            "algoClOrdId": "",
            "algoId": "",
            "amendResult": "",
            "amendSource": "",
            "avgPx": "31527.1",
            "cancelSource": "",
            "category": "normal",
            "ccy": "",
            "clOrdId": "",
            "code": "0",
            "cTime": "1654084334977",
            "execType": "M",
            "fee": "-0.02522168",
            "feeCcy": "USDT",
            "fillFee": "-0.02522168",
            "fillFeeCcy": "USDT",
            "fillNotionalUsd": "31.50818374",
            "fillPx": "31527.1",
            "fillSz": "0.001",
            "fillPnl": "0.01",
            "fillTime": "1654084353263",
            "fillPxVol": "",
            "fillPxUsd": "",
            "fillMarkVol": "",
            "fillFwdPx": "",
            "fillMarkPx": "",
            "fillIdxPx": "",
            "instId": "BTC-USDT",
            "instType": "SPOT",
            "lever": "0",
            "msg": "",
            "notionalUsd": "31.50818374",
            "ordId": "452197707845865472",
            "ordType": "limit",
            "pnl": "0",
            "posSide": "",
            "px": "31527.1",
            "pxUsd": "",
            "pxVol": "",
            "pxType": "",
            "quickMgnType": "",
            "rebate": "0",
            "rebateCcy": "BTC",
            "reduceOnly": "false",
            "reqId": "",
            "side": "sell",
            "attachAlgoClOrdId": "",
            "slOrdPx": "",
            "slTriggerPx": "",
            "slTriggerPxType": "last",
            "source": "",
            "state": "filled",
            "stpId": "",
            "stpMode": "",
            "sz": "0.001",
            "tag": "",
            "tdMode": "cash",
            "tgtCcy": "",
            "tpOrdPx": "",
            "tpTriggerPx": "",
            "tpTriggerPxType": "last",
            "attachAlgoOrds": [],
            "tradeId": "242589207",
            "lastPx": "38892.2",
            "uTime": "1654084353264",
            "isTpLimit": "false",
            "linkedAlgoOrd": {"algoId": ""},
        }
    ],
}

# DOCS-HTML "Positions channel" second "Push Data Example" (instType ANY): a FUTURES row and a SWAP row. The docs
# give BOTH rows the same posId "307173036051017730" and tradeId "109844"; they differ only in instId/instType.
WS_POSITIONS_PUSH = {
    "arg": {
        "channel": "positions",
        "uid": "77982378738415879",
        "instType": "ANY",
    },
    "eventType": "snapshot",
    "curPage": 1,
    "lastPage": True,
    "data": [
        {
            "adl": "1",
            "availPos": "1",
            "avgPx": "2566.31",
            "cTime": "1619507758793",
            "ccy": "ETH",
            "deltaBS": "",
            "deltaPA": "",
            "gammaBS": "",
            "gammaPA": "",
            "imr": "",
            "instId": "ETH-USD-210430",
            "instType": "FUTURES",
            "interest": "0",
            "idxPx": "2566.13",
            "last": "2566.22",
            "usdPx": "",
            "bePx": "2353.949",
            "lever": "10",
            "liab": "",
            "liabCcy": "",
            "liqPx": "2352.8496681818233",
            "markPx": "2353.849",
            "margin": "0.0003896645377994",
            "mgnMode": "isolated",
            "mgnRatio": "11.731726509588816",
            "mmr": "0.0000311811092368",
            "notionalUsd": "2276.2546609009605",
            "optVal": "",
            "pTime": "1619507761462",
            "pendingCloseOrdLiabVal": "0.1",
            "pos": "1",
            "baseBorrowed": "",
            "baseInterest": "",
            "quoteBorrowed": "",
            "quoteInterest": "",
            "posCcy": "",
            "posId": "307173036051017730",
            "posSide": "long",
            "spotInUseAmt": "",
            "clSpotInUseAmt": "",
            "maxSpotInUseAmt": "",
            "spotInUseCcy": "",
            "bizRefId": "",
            "bizRefType": "",
            "thetaBS": "",
            "thetaPA": "",
            "tradeId": "109844",
            "uTime": "1619507761462",
            "upl": "-0.0000009932766034",
            "uplLastPx": "-0.0000009932766034",
            "uplRatio": "-0.0025490556801078",
            "uplRatioLastPx": "-0.0025490556801078",
            "vegaBS": "",
            "vegaPA": "",
            "realizedPnl": "0.001",
            "pnl": "0.0011",
            "fee": "-0.0001",
            "fundingFee": "0",
            "liqPenalty": "0",
            "nonSettleAvgPx": "",
            "settledPnl": "",
            "closeOrderAlgo": [
                {
                    "algoId": "123",
                    "slTriggerPx": "123",
                    "slTriggerPxType": "mark",
                    "tpTriggerPx": "123",
                    "tpTriggerPxType": "mark",
                    "closeFraction": "0.6",
                },
                {
                    "algoId": "123",
                    "slTriggerPx": "123",
                    "slTriggerPxType": "mark",
                    "tpTriggerPx": "123",
                    "tpTriggerPxType": "mark",
                    "closeFraction": "0.4",
                },
            ],
        },
        {
            "adl": "1",
            "availPos": "1",
            "avgPx": "2566.31",
            "cTime": "1619507758793",
            "ccy": "ETH",
            "deltaBS": "",
            "deltaPA": "",
            "gammaBS": "",
            "gammaPA": "",
            "imr": "",
            "instId": "ETH-USD-SWAP",
            "instType": "SWAP",
            "interest": "0",
            "idxPx": "2566.13",
            "last": "2566.22",
            "usdPx": "",
            "bePx": "2353.949",
            "lever": "10",
            "liab": "",
            "liabCcy": "",
            "liqPx": "2352.8496681818233",
            "markPx": "2353.849",
            "margin": "0.0003896645377994",
            "mgnMode": "isolated",
            "mgnRatio": "11.731726509588816",
            "mmr": "0.0000311811092368",
            "notionalUsd": "2276.2546609009605",
            "optVal": "",
            "pTime": "1619507761462",
            "pendingCloseOrdLiabVal": "0.1",
            "pos": "1",
            "baseBorrowed": "",
            "baseInterest": "",
            "quoteBorrowed": "",
            "quoteInterest": "",
            "posCcy": "",
            "posId": "307173036051017730",
            "posSide": "long",
            "spotInUseAmt": "",
            "clSpotInUseAmt": "",
            "maxSpotInUseAmt": "",
            "spotInUseCcy": "",
            "bizRefId": "",
            "bizRefType": "",
            "thetaBS": "",
            "thetaPA": "",
            "tradeId": "109844",
            "uTime": "1619507761462",
            "upl": "-0.0000009932766034",
            "uplLastPx": "-0.0000009932766034",
            "uplRatio": "-0.0025490556801078",
            "uplRatioLastPx": "-0.0025490556801078",
            "vegaBS": "",
            "vegaPA": "",
            "realizedPnl": "0.001",
            "pnl": "0.0011",
            "fee": "-0.0001",
            "fundingFee": "0",
            "liqPenalty": "0",
            "nonSettleAvgPx": "",
            "settledPnl": "",
            "closeOrderAlgo": [
                {
                    "algoId": "123",
                    "slTriggerPx": "123",
                    "slTriggerPxType": "mark",
                    "tpTriggerPx": "123",
                    "tpTriggerPxType": "mark",
                    "closeFraction": "0.6",
                },
                {
                    "algoId": "123",
                    "slTriggerPx": "123",
                    "slTriggerPxType": "mark",
                    "tpTriggerPx": "123",
                    "tpTriggerPxType": "mark",
                    "closeFraction": "0.4",
                },
            ],
        },
    ],
}

# DOCS-HTML "Account channel" "Push Data Example". The docs JSON has "collateralEnabled" TWICE in details[0]
# (first false, then ""); a JSON parser would keep "", but a dict can hold one value, so the first,
# type-correct False is kept. The EEA copy (Trading_Account/WebSocket/Account_Channel.md) has no duplicate, and
# adds account-level "availEq": "55415.624719833286" plus details "collateralRestrict": false and
# "colBorrAutoConversion": "0"; this global snapshot has none of them.
WS_ACCOUNT_PUSH = {
    "arg": {
        "channel": "account",
        "uid": "44*********584",
    },
    "eventType": "snapshot",
    "curPage": 1,
    "lastPage": True,
    "data": [
        {
            "adjEq": "55444.12216906034",
            "borrowFroz": "0",
            "details": [
                {
                    "availBal": "4734.371190691436",
                    "availEq": "4734.371190691435",
                    "borrowFroz": "0",
                    "cashBal": "4750.426970691436",
                    "ccy": "USDT",
                    "coinUsdPrice": "0.99927",
                    "crossLiab": "0",
                    "collateralEnabled": False,
                    "disEq": "4889.379316336831",
                    "eq": "4892.951170691435",
                    "eqUsd": "4889.379316336831",
                    "smtSyncEq": "0",
                    "spotCopyTradingEq": "0",
                    "fixedBal": "0",
                    "frozenBal": "158.57998",
                    "imr": "",
                    "interest": "0",
                    "isoEq": "0",
                    "isoLiab": "0",
                    "isoUpl": "0",
                    "liab": "0",
                    "maxLoan": "0",
                    "mgnRatio": "",
                    "mmr": "",
                    "notionalLever": "",
                    "ordFrozen": "0",
                    "rewardBal": "0",
                    "spotInUseAmt": "",
                    "clSpotInUseAmt": "",
                    "maxSpotInUseAmt": "",
                    "spotIsoBal": "0",
                    "stgyEq": "150",
                    "twap": "0",
                    "uTime": "1705564213903",
                    "upl": "-7.475800000000003",
                    "uplLiab": "0",
                    "spotBal": "",
                    "openAvgPx": "",
                    "accAvgPx": "",
                    "spotUpl": "",
                    "spotUplRatio": "",
                    "totalPnl": "",
                    "totalPnlRatio": "",
                }
            ],
            "imr": "0",
            "isoEq": "0",
            "mgnRatio": "",
            "mmr": "0",
            "notionalUsd": "0",
            "notionalUsdForBorrow": "0",
            "notionalUsdForFutures": "0",
            "notionalUsdForOption": "0",
            "notionalUsdForSwap": "0",
            "ordFroz": "0",
            "totalEq": "",
            "uTime": "1705564223311",
            "upl": "0",
        }
    ],
}

# EEA-DOCS Order_Book_Trading/Market_Data/Ws_Tickers_Channel.md "Push Data Example" (REST ticker fields, SPOT).
WS_TICKERS_PUSH = {
    "arg": {
        "channel": "tickers",
        "instId": "BTC-USDT",
    },
    "data": [
        {
            "instType": "SPOT",
            "instId": "BTC-USDT",
            "last": "9999.99",
            "lastSz": "0.1",
            "askPx": "9999.99",
            "askSz": "11",
            "bidPx": "8888.88",
            "bidSz": "5",
            "open24h": "9000",
            "high24h": "10000",
            "low24h": "8888.88",
            "volCcy24h": "2222",
            "vol24h": "2222",
            "sodUtc0": "2222",
            "sodUtc8": "2222",
            "ts": "1597026383085",
        }
    ],
}

# EEA-DOCS Order_Book_Trading/Market_Data/Ws_Order_Book_Channel.md "Push Data Example: Full Snapshot".
# checksum/prevSeqId/seqId are JSON integers; a snapshot has prevSeqId -1.
# WARNING: the docs' checksum -855196043 does NOT match the docs' own levels: CRC32 (signed) of the interleaved
# string "8476.97:256:8476.98:415:8475.55:101:8477:7:..." is -2102840145. Use the docs value only where the
# checksum is not verified.
WS_BOOKS_SNAPSHOT = {
    "arg": {
        "channel": "books",
        "instId": "BTC-USDT",
    },
    "action": "snapshot",
    "data": [
        {
            "asks": [
                ["8476.98", "415", "0", "13"],
                ["8477", "7", "0", "2"],
                ["8477.34", "85", "0", "1"],
                ["8477.56", "1", "0", "1"],
                ["8505.84", "8", "0", "1"],
                ["8506.37", "85", "0", "1"],
                ["8506.49", "2", "0", "1"],
                ["8506.96", "100", "0", "2"],
            ],
            "bids": [
                ["8476.97", "256", "0", "12"],
                ["8475.55", "101", "0", "1"],
                ["8475.54", "100", "0", "1"],
                ["8475.3", "1", "0", "1"],
                ["8447.32", "6", "0", "1"],
                ["8447.02", "246", "0", "1"],
                ["8446.83", "24", "0", "1"],
                ["8446", "95", "0", "3"],
            ],
            "ts": "1597026383085",
            "checksum": -855196043,
            "prevSeqId": -1,
            "seqId": 123456,
        }
    ],
}

# EEA-DOCS Order_Book_Trading/Market_Data/Ws_Order_Book_Channel.md "Push Data Example: Incremental Data". The docs
# repeat the snapshot's levels and checksum unchanged; prevSeqId 123456 == the snapshot's seqId.
WS_BOOKS_UPDATE = {
    "arg": {
        "channel": "books",
        "instId": "BTC-USDT",
    },
    "action": "update",
    "data": [
        {
            "asks": [
                ["8476.98", "415", "0", "13"],
                ["8477", "7", "0", "2"],
                ["8477.34", "85", "0", "1"],
                ["8477.56", "1", "0", "1"],
                ["8505.84", "8", "0", "1"],
                ["8506.37", "85", "0", "1"],
                ["8506.49", "2", "0", "1"],
                ["8506.96", "100", "0", "2"],
            ],
            "bids": [
                ["8476.97", "256", "0", "12"],
                ["8475.55", "101", "0", "1"],
                ["8475.54", "100", "0", "1"],
                ["8475.3", "1", "0", "1"],
                ["8447.32", "6", "0", "1"],
                ["8447.02", "246", "0", "1"],
                ["8446.83", "24", "0", "1"],
                ["8446", "95", "0", "3"],
            ],
            "ts": "1597026383085",
            "checksum": -855196043,
            "prevSeqId": 123456,
            "seqId": 123457,
        }
    ],
}
