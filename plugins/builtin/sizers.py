"""Built-in plugin: the position sizers of `core.sizing` (fixed dollars, percent of equity, ATR risk)."""

from __future__ import annotations

from core.sizing import AtrRiskSizer, FixedInvestmentSizer, PercentOfEquitySizer
from plugins.registry import Registrar
from plugins.spec import hookimpl


@hookimpl
def tradebridge_register_sizers(registry: Registrar) -> None:
    registry.register(
        "fixed_investment", FixedInvestmentSizer,
        description="the same dollar amount per order: FixedInvestmentSizer(investment=Decimal)",
    )
    registry.register(
        "percent_of_equity", PercentOfEquitySizer,
        description="a fraction of account equity per order: PercentOfEquitySizer(pct=Decimal)",
    )
    registry.register(
        "atr_risk", AtrRiskSizer,
        description="risk a fraction of equity on a stop N ATRs away: AtrRiskSizer(risk_pct, atr_multiple)",
    )
