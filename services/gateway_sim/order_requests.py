"""placeOrder, decoded: the order ticket the execution engine needs, read field by field.

The message is long (about 150 fields at version 178); the ticket keeps what the paper engine
acts on and what openOrder must echo back. Fields are read in the order real clients send them
(ib_async and the official EClient agree for versions 157..178); optional groups (combo legs,
delta-neutral, scale, hedge, algo parameters) are stepped over as their counts say. Everything
after ``whatIf`` only tunes order types the engine does not simulate, so reading stops there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ibproto import versions
from ibproto.fields import FieldReader, UNSET_DOUBLE
from services.gateway_sim.catalog import ContractQuery
from services.gateway_sim.requests import read_contract


@dataclass(frozen=True)
class OrderTicket:
    """What a client asked for in placeOrder."""

    action: str
    quantity: float
    order_type: str
    limit_price: float = UNSET_DOUBLE
    aux_price: float = UNSET_DOUBLE
    tif: str = "DAY"
    oca_group: str = ""
    account: str = ""
    order_ref: str = ""
    transmit: bool = True
    parent_id: int = 0
    outside_rth: bool = False
    display_size: int = 0
    good_after_time: str = ""
    good_till_date: str = ""
    oca_type: int = 0
    what_if: bool = False
    trail_stop_price: float = UNSET_DOUBLE
    trailing_percent: float = UNSET_DOUBLE

    @property
    def buying(self) -> bool:
        return self.action.upper() == "BUY"

    def signed(self, quantity: float) -> float:
        return quantity if self.buying else -quantity

    def with_changes(self, **changes) -> "OrderTicket":
        return replace(self, **changes)


@dataclass(frozen=True)
class PlaceOrder:
    order_id: int
    contract: ContractQuery
    ticket: OrderTicket


def _skip_if_set(r: FieldReader, name: str, value: float) -> None:
    if 0 < value < UNSET_DOUBLE:
        r.skip(name, 7)


def decode_place_order(r: FieldReader, version: int) -> PlaceOrder:
    order_id = r.request_id_field("orderId")
    contract = read_contract(r)
    r.skip("secIdType")
    r.skip("secId")
    action, quantity, order_type = r.text("action"), r.number("totalQuantity"), r.text("orderType")
    limit, aux = r.number("lmtPrice", UNSET_DOUBLE), r.number("auxPrice", UNSET_DOUBLE)
    tif, oca, account = r.text("tif"), r.text("ocaGroup"), r.text("account")
    r.skip("openClose")
    r.skip("origin")
    order_ref = r.text("orderRef")
    transmit = r.text("transmit") != "0"
    parent_id = r.integer("parentId")
    r.skip("blockOrder")
    r.skip("sweepToFill")
    display = r.integer("displaySize")
    r.skip("triggerMethod")
    outside_rth = r.flag("outsideRth")
    r.skip("hidden")
    if contract.sec_type.upper() == "BAG":
        for _ in range(r.count("comboLegsCount")):
            r.skip("comboLeg", 8)
        for _ in range(r.count("orderComboLegsCount")):
            r.skip("orderComboLeg.price")
        for _ in range(r.count("smartComboRoutingParamsCount")):
            r.skip("smartComboRoutingParam", 2)
    r.skip("sharesAllocation")
    r.skip("discretionaryAmt")
    good_after, good_till = r.text("goodAfterTime"), r.text("goodTillDate")
    r.skip("faGroup/faMethod/faPercentage", 3)
    if version < versions.FA_PROFILE_DESUPPORT:
        r.skip("faProfile")
    r.skip("modelCode")
    r.skip("shortSaleSlot/designatedLocation/exemptCode", 3)
    oca_type = r.integer("ocaType")
    r.skip("rule80A .. overridePercentageConstraints", 15)
    r.skip("volatility/volatilityType", 2)
    dn_type = r.text("deltaNeutralOrderType")
    r.skip("deltaNeutralAuxPrice")
    if dn_type:
        r.skip("deltaNeutral", 8)
    r.skip("continuousUpdate/referencePriceType", 2)
    trail_stop, trailing_percent = r.number("trailStopPrice", UNSET_DOUBLE), r.number("trailingPercent", UNSET_DOUBLE)
    r.skip("scaleInitLevelSize/scaleSubsLevelSize", 2)
    _skip_if_set(r, "scale parameters", r.number("scalePriceIncrement", UNSET_DOUBLE))
    r.skip("scaleTable/activeStartTime/activeStopTime", 3)
    if r.text("hedgeType"):
        r.skip("hedgeParam")
    r.skip("optOutSmartRouting/clearingAccount/clearingIntent/notHeld", 4)
    if r.flag("deltaNeutralContractPresent"):
        r.skip("deltaNeutralContract", 3)
    if r.text("algoStrategy"):
        for _ in range(r.count("algoParamsCount")):
            r.skip("algoParam", 2)
    r.skip("algoId")
    what_if = r.flag("whatIf")
    ticket = OrderTicket(action=action, quantity=quantity, order_type=order_type, limit_price=limit, aux_price=aux,
                         tif=tif or "DAY", oca_group=oca, account=account, order_ref=order_ref, transmit=transmit,
                         parent_id=parent_id, outside_rth=outside_rth, display_size=display,
                         good_after_time=good_after, good_till_date=good_till, oca_type=oca_type,
                         what_if=what_if, trail_stop_price=trail_stop, trailing_percent=trailing_percent)
    return PlaceOrder(order_id, contract, ticket)
