"""The case format as data: every table, column, type, unit, default and reference.

This module is the single source of truth for the case format. `case/validate.py` checks
tables against it, and `docs/case-format.md` is generated from it
(`python -m capacity.case.schema > docs/case-format.md`; a test keeps the two in step).

Conventions: money is in millions of the case currency (the default case uses USD, hence
the `_musd` suffix); capacity, demand and shipments are in batches per period; shares are
fractions in [0, 1]; periods are integer labels (e.g. years) sorted ascending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["str", "int", "float", "bool", "list"]

# The modalities a case may use when it has no `modalities` table: (modality, name, what
# one batch is). Their numbers are neutral (every batch succeeds, no changeover slots), so
# a case that does not state them is planned as before; a case states its own in a
# `modalities` table.
DEFAULT_MODALITIES: tuple[tuple[str, str, str], ...] = (
    ("antibody", "monoclonal or bispecific antibody, fusion protein",
     "one fed-batch production bioreactor run (e.g. 2,000 L single-use)"),
    ("adc", "antibody-drug conjugate", "one conjugation lot"),
    ("aav", "AAV gene therapy", "one vector lot (e.g. a 500–2,000 L bioreactor harvest)"),
    ("lentiviral", "lentiviral vector", "one vector lot"),
    ("cell", "cell therapy (autologous or allogeneic not told apart)",
     "one patient lot (autologous) or one allogeneic batch"),
    ("cell_autologous", "autologous cell therapy (CAR-T, TIL)", "one patient lot"),
    ("cell_allogeneic", "allogeneic cell therapy", "one batch of many doses"),
    ("microbial", "microbial fermentation (proteins, 'smart cells')",
     "one fermentation run"),
    ("mrna", "mRNA and lipid nanoparticles",
     "one IVT and LNP formulation lot (drug substance)"),
    ("plasmid_dna", "plasmid DNA (starting material for vectors and mRNA)",
     "one fermentation and purification lot"),
    ("oligonucleotide", "synthetic oligonucleotide", "one synthesis lot"),
)
MODALITIES = tuple(q for q, _, _ in DEFAULT_MODALITIES)

# Tables a case may still carry from an earlier version, and where their data go now.
RETIRED_TABLES = {
    "batch_success": "its rows are the `success_rate` column of the `modalities` table "
                     "now (modality, success_rate); rename the file (or sheet) modalities",
}
SCALES = ("clinical", "commercial")
SITE_STATUSES = ("existing", "candidate")
FUND_COST_TYPES = ("capex", "opening")
RULE_KINDS = ("barred", "min_domestic_share", "max_operator_share", "max_country_share",
              "max_time_to_market", "min_service_level")
SHARE_BASES = ("supply", "demand")
# What a rule counts (`rules.measure`): every batch as one, each batch weighted by its
# value, or by its program's (else its modality's) weight (models/formulation.md,
# "Rule measures").
RULE_MEASURES = ("batches", "value", "weight")
# The rule kinds a measure applies to: the share rules and the service level.
MEASURED_RULE_KINDS = ("min_domestic_share", "max_operator_share", "max_country_share",
                       "min_service_level")
OUTAGE_KINDS = ("site", "operator", "country")
DISRUPTION_KINDS = OUTAGE_KINDS  # a disruption, when it happens, is an outage

# Magnitudes beyond these are data errors (a unit slip, 1e30 pasted from a solver), not plans.
MAX_MONEY_MUSD = 1e9
MAX_BATCHES = 1e6
MAX_SHELF_LIFE = 50  # periods
# Modalities whose batches are made for one patient and cannot be stored: their shelf
# life is always 0.
UNSTORABLE_MODALITIES = ("cell_autologous",)


@dataclass(frozen=True)
class Column:
    """One column of a case table.

    Attributes:
        name: column header.
        kind: value type; ``list`` is a ``;``-separated list of identifiers.
        doc: one-line meaning, with unit.
        required: the column must be present and every cell filled.
        default: value used when the column is absent or a cell is empty (optional columns).
        lower, upper: inclusive bounds for numbers.
        lower_open: the lower bound is exclusive (value must be > lower).
        choices: allowed values for ``str`` columns.
        ref: ``table.column`` every value (each item for lists) must exist in.
    """

    name: str
    kind: ColumnKind
    doc: str
    required: bool = False
    default: object = None
    lower: float | None = None
    upper: float | None = None
    lower_open: bool = False
    choices: tuple[str, ...] | None = None
    ref: str | None = None


@dataclass(frozen=True)
class Table:
    """One case table: its columns, its key and whether the case needs it. A table
    without a key (``key=()``: ``settings``) holds one row at most."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    required: bool = True

    def column(self, name: str) -> Column:
        """Return the column called ``name``."""
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    @property
    def column_names(self) -> tuple[str, ...]:
        """All column names, in documented order."""
        return tuple(c.name for c in self.columns)


def _id(name: str, doc: str, ref: str | None = None) -> Column:
    return Column(name, "str", doc, required=True, ref=ref)


def _money(name: str, doc: str, default: float = 0.0) -> Column:
    return Column(name, "float", doc, default=default, lower=0.0, upper=MAX_MONEY_MUSD)


def _share(name: str, doc: str, default: float | None = None, required: bool = False) -> Column:
    return Column(name, "float", doc, required=required, default=default, lower=0.0, upper=1.0)


def _batches(name: str, doc: str, required: bool = False) -> Column:
    return Column(
        name, "float", doc, required=required, default=None if required else 0.0,
        lower=0.0, upper=MAX_BATCHES,
    )


MAX_PERIOD = 100_000


def _coordinates(doc: str) -> tuple[Column, Column]:
    return (Column("latitude", "float", f"degrees north: {doc}", default=None, lower=-90.0,
                   upper=90.0),
            Column("longitude", "float", f"degrees east: {doc}", default=None, lower=-180.0,
                   upper=180.0))


def _period(name: str, doc: str, required: bool = True) -> Column:
    return Column(name, "int", doc, required=required, ref="periods.period", lower=0,
                  upper=MAX_PERIOD)


# What a lane costs, in `lanes` and in `lane_defaults` alike.
_LANE_COSTS = (
    _money("transport_musd_per_batch", "transport cost per batch, MUSD"),
    Column("tariff_rate", "float", "ad-valorem tariff on the batch's production cost",
           default=0.0, lower=0.0, upper=10.0),
)


TABLES: tuple[Table, ...] = (
    Table(
        "periods",
        "The planning horizon, one row per period, in ascending order.",
        (
            Column("period", "int", "period label, e.g. a year", required=True,
                   lower=0, upper=MAX_PERIOD),
            Column("years", "float", "length of the period in years; scales annual fixed costs",
                   default=1.0, lower=0.0, lower_open=True, upper=100.0),
            Column("discount_factor", "float",
                   "present-value factor applied to every cost incurred in the period",
                   default=1.0, lower=0.0, lower_open=True, upper=1.0),
        ),
        key=("period",),
    ),
    Table(
        "regions",
        "Geographies. Every region is both a production origin and a market.",
        (
            _id("region", "region identifier, e.g. JP"),
            Column("name", "str", "display name", default=""),
            Column("bloc", "str", "trade or political bloc; `lane_defaults` give lanes by "
                   "bloc (empty: the region has none of them)", default=""),
            Column("currency", "str", "local currency, informational", default=""),
            *_coordinates("the market's centre, for the report's map (lanes end there)"),
            Column("approval_required", "bool", "commercial supply to this market only "
                   "from sites approved for it (`approvals`: approved from a period, or "
                   "approvable after a pre-approval inspection), its own region's sites "
                   "included", default=False),
            Column("clinical_approval_required", "bool", "clinical supply to this market "
                   "needs an approval too (false: any GMP site may supply clinical "
                   "batches)", default=False),
        ),
        key=("region",),
    ),
    Table(
        "operators",
        "Companies or public bodies that own sites.",
        (
            _id("operator", "operator identifier"),
            Column("name", "str", "display name", default=""),
            Column("kind", "str", "type of operator", default="cdmo",
                   choices=("cdmo", "corporate", "public", "other")),
            Column("of_concern", "bool",
                   "named in an exclusion list (e.g. Biosecure-style); rules can bar "
                   "`flag:of_concern`", default=False),
            Column("flags", "list", "further flags rules can name as `flag:NAME`", default=()),
        ),
        key=("operator",),
    ),
    Table(
        "sites",
        "Existing manufacturing sites and candidate (greenfield/brownfield) sites.",
        (
            _id("site", "site identifier"),
            _id("operator", "owner", ref="operators.operator"),
            _id("region", "where the site is", ref="regions.region"),
            Column("status", "str", "existing sites are open; candidates must be opened",
                   required=True, choices=SITE_STATUSES),
            Column("name", "str", "display name", default=""),
            _money("fixed_cost_musd_per_year", "fixed cost while open, MUSD per year (for "
                   "an existing site, a constant of the case that no decision changes: the "
                   "plan's costs show it apart, as fixed_existing)"),
            _money("opening_cost_musd", "one-off cost of opening a candidate site, MUSD"),
            Column("lead_time_periods", "int",
                   "periods from the opening decision until a candidate site can produce",
                   default=0, lower=0, upper=50),
            *_coordinates("where the site is, for the report's map"),
        ),
        key=("site",),
    ),
    Table(
        "modalities",
        "Manufacturing modalities: what one batch is, and the numbers every program of the "
        "modality takes where no table of its own gives them. A case without this table "
        "uses the built-in list (antibody, adc, aav, lentiviral, cell, cell_autologous, "
        "cell_allogeneic, microbial, mrna, plasmid_dna, oligonucleotide), whose batches all "
        "succeed, ship in the period they are made and share suites without changeovers. "
        "Capacity, demand and shipments of a "
        "modality are counted in its batches.",
        (
            _id("modality", "modality identifier, e.g. lentiviral"),
            Column("name", "str", "display name", default=""),
            Column("batch", "str", "what one batch of the modality is, e.g. \"one 2,000 L "
                   "bioreactor run\" or \"one patient lot\": the unit of its capacity, "
                   "demand and shipments", default=""),
            Column("success_rate", "float", "expected share of the batches started that "
                   "succeed and are delivered, where `yields` gives none for a program × "
                   "site: a delivered batch uses slots_per_batch ÷ success_rate suite slots",
                   default=1.0, lower=0.0, lower_open=True, upper=1.0),
            Column("shelf_life_periods", "int", "whole periods a batch may be held in "
                   "stock before it ships (programs may override it): made in t, shipped "
                   "by t + this; 0: shipped in the period it is made (autologous cell "
                   "therapy always)", default=0, lower=0, upper=MAX_SHELF_LIFE),
            _money("holding_cost_musd_per_batch_period", "cost of holding one batch in "
                   "stock from one period to the next, MUSD (programs may override it)"),
            Column("changeover_slots", "float", "batch slots a suite of the modality loses "
                   "to each program made in it in a period, on top of the program's batches "
                   "(cleaning, line clearance, changeover QC: one campaign per program, "
                   "suite and period), where `suites.changeover_slots` gives none; 0: "
                   "programs share a suite for free", default=0.0, lower=0.0,
                   upper=MAX_BATCHES),
            Column("weight", "float", "what one batch of the modality counts for in rules "
                   "whose `measure` is `weight` (programs may override it), e.g. doses or "
                   "patients per batch, or a batch's value relative to another "
                   "modality's", default=1.0, lower=0.0, upper=MAX_MONEY_MUSD),
        ),
        key=("modality",),
        required=False,
    ),
    Table(
        "suites",
        "Capacity at a site for one modality and scale: what exists and how it can grow.",
        (
            _id("site", "site", ref="sites.site"),
            Column("modality", "str", "manufacturing modality", required=True,
                   ref="modalities.modality"),
            Column("scale", "str", "clinical (investigational) or commercial scale",
                   required=True, choices=SCALES),
            _batches("existing_batches_per_period",
                     "capacity in place that the case's programs may use, batches per period "
                     "(the consortium's share of the suite where others use it too, not the "
                     "whole suite's output; 0 at candidate sites)"),
            _batches("module_batches_per_period", "capacity one expansion module adds, batches "
                     "per period"),
            _money("module_capex_musd", "capital cost of one expansion module, MUSD"),
            Column("max_modules", "int", "most expansion modules over the horizon",
                   default=0, lower=0, upper=1000),
            Column("lead_time_periods", "int",
                   "periods from a build decision until the module produces",
                   default=1, lower=0, upper=50),
            _money("variable_cost_musd_per_batch", "production cost per batch slot used, MUSD"),
            Column("changeover_slots", "float", "batch slots the suite loses to each program "
                   "made in it in a period, on top of its batches (empty: the modality's "
                   "`changeover_slots`)", default=None, lower=0.0, upper=MAX_BATCHES),
        ),
        key=("site", "modality", "scale"),
    ),
    Table(
        "programs",
        "Startup programs that need manufacturing slots.",
        (
            _id("program", "program identifier"),
            Column("startup", "str", "company that owns the program", required=True),
            Column("modality", "str", "modality the program needs", required=True,
                   ref="modalities.modality"),
            _period("earliest_start", "first period the program can be produced",
                    required=False),
            _period("commercial_from", "first period at commercial scale; clinical before "
                    "(empty: clinical throughout)", required=False),
            Column("max_sites", "int", "most sites the program may be transferred to",
                   default=1, lower=1, upper=100),
            Column("qualified_sites", "list", "the short list of sites qualified to make "
                   "the program (process fit, audits, the startup's choice): it is made "
                   "and transferred only there (empty: any site with a suite of its "
                   "modality)", default=(), ref="sites.site"),
            _money("tech_transfer_musd", "technology-transfer cost per site, MUSD "
                   "(overridden per site by tech_transfers)"),
            Column("tech_transfer_periods", "int", "whole periods a technology transfer "
                   "takes (overridden per site by tech_transfers): transfers start at "
                   "`earliest_start`, and the program is produced at a site only once its "
                   "transfer there is complete, from `earliest_start` + this many periods",
                   default=0, lower=0, upper=50),
            Column("shelf_life_periods", "int", "whole periods a batch of the program may "
                   "be held in stock before it ships (empty: its modality's "
                   "`shelf_life_periods`)", default=None, lower=0, upper=MAX_SHELF_LIFE),
            Column("holding_cost_musd_per_batch_period", "float", "cost of holding one "
                   "batch in stock from one period to the next, MUSD (empty: its "
                   "modality's)", default=None, lower=0.0, upper=MAX_MONEY_MUSD),
            _share("success_probability", "probability of technical success (`capacity "
                   "stochastic`): a failed program has no demand from its readout on, "
                   "which is `commercial_from` (the first period if empty) unless "
                   "`readouts` lists its phases", default=1.0),
            Column("transfer_before_readout", "bool", "`capacity stochastic`: its "
                   "technology transfers are decided before the readout (first stage) "
                   "rather than after it, per scenario", default=True),
            Column("phases_at_one_site", "bool", "its clinical and commercial phases move "
                   "as one (the rule before phases were assigned apart): each site it goes "
                   "to, at most `max_sites`, takes one technology transfer at "
                   "`earliest_start` and makes whichever phases it has suites for, so a "
                   "phase its sites cannot make goes unserved; false: each phase goes to "
                   "at most `max_sites` sites of its own, and a commercial phase at a site "
                   "not running the clinical phase is a second transfer, started just in "
                   "time for `commercial_from`", default=True),
            Column("weight", "float", "what one batch of the program counts for in rules "
                   "whose `measure` is `weight` (empty: its modality's `weight`)",
                   default=None, lower=0.0, upper=MAX_MONEY_MUSD),
            _share("continuity_share", "continuity of supply: once the program's "
                   "commercial supply to a market has started, at least this share of its "
                   "demand there (committed + potential) is served in every later period "
                   "(empty: `settings.continuity_share`; 0: off)", default=None),
        ),
        key=("program",),
    ),
    Table(
        "tech_transfers",
        "Technology transfer of a program to a particular site, where its cost or its "
        "duration differs from the program's.",
        (
            _id("program", "program", ref="programs.program"),
            _id("site", "site", ref="sites.site"),
            Column("tech_transfer_musd", "float", "cost of transferring the program to the "
                   "site, MUSD (empty: the program's `tech_transfer_musd`)", default=None,
                   lower=0.0, upper=MAX_MONEY_MUSD),
            Column("tech_transfer_periods", "int", "whole periods the transfer to the site "
                   "takes (empty: the program's `tech_transfer_periods`)", default=None,
                   lower=0, upper=50),
        ),
        key=("program", "site"),
        required=False,
    ),
    Table(
        "yields",
        "Capacity use per batch where a site's process differs from the standard: the "
        "slots one batch takes, and the share of batches that succeed there. A delivered "
        "batch uses slots_per_batch ÷ success_rate suite slots (and costs as much "
        "production): failed batches take their slots too.",
        (
            _id("program", "program", ref="programs.program"),
            _id("site", "site", ref="sites.site"),
            Column("slots_per_batch", "float", "suite batch slots one batch started uses",
                   default=1.0, lower=0.0, lower_open=True, upper=MAX_BATCHES),
            Column("success_rate", "float", "expected share of the batches started that "
                   "succeed and are delivered (empty: the modality's `success_rate`)",
                   default=None, lower=0.0, lower_open=True, upper=1.0),
        ),
        key=("program", "site"),
        required=False,
    ),
    Table(
        "demand",
        "Potential demand beyond commitments: may be served, earns its value when it is.",
        (
            _id("program", "program", ref="programs.program"),
            _id("market", "market", ref="regions.region"),
            _period("period", "period"),
            _batches("potential_batches", "demand that may be served, batches"),
            _money("value_musd_per_batch", "value of serving one potential batch, MUSD: "
                   "what the consortium gains (a commercial batch: its net price; a "
                   "clinical batch: what serving the trial is worth, e.g. the cost of "
                   "delaying the program, as no one buys it), and the revenue counted in "
                   "the operating margin that feeds bank reinvestment"),
        ),
        key=("program", "market", "period"),
        required=False,
    ),
    Table(
        "anchors",
        "Corporate or public demand anchors that guarantee purchases.",
        (
            _id("anchor", "anchor identifier"),
            Column("name", "str", "display name", default=""),
            Column("region", "str", "home region", default="", ref="regions.region"),
        ),
        key=("anchor",),
        required=False,
    ),
    Table(
        "offtakes",
        "Take-or-pay commitments: these batches must be supplied.",
        (
            _id("anchor", "anchor", ref="anchors.anchor"),
            _id("program", "program", ref="programs.program"),
            _id("market", "market supplied", ref="regions.region"),
            _period("period", "period"),
            _batches("committed_batches", "batches that must be supplied", required=True),
            _money("price_musd_per_batch", "price the anchor pays per committed batch, MUSD; "
                   "revenue in the operating margin that feeds bank reinvestment (not in the "
                   "cost: committed batches are supplied in every plan)"),
        ),
        key=("anchor", "program", "market", "period"),
        required=False,
    ),
    Table(
        "lanes",
        "Shipping lanes from an origin region to a market, for every modality or for one "
        "(a cryo-shipped cell lot does not cost what an antibody batch costs). The lane a "
        "batch of modality q from origin o to market m takes is the first of: the row "
        "(o, m, q); the row (o, m, empty modality); the domestic lane, free, where o = m; "
        "the `lane_defaults` row of o's and m's blocs for q, then for every modality. "
        "Where none applies, nothing of q ships from o to m.",
        (
            _id("origin", "producing region", ref="regions.region"),
            _id("market", "market", ref="regions.region"),
            Column("modality", "str", "modality the row is for (empty: every modality "
                   "without a row of its own for this origin and market)", default="",
                   ref="modalities.modality"),
            *_LANE_COSTS,
        ),
        key=("origin", "market", "modality"),
        required=False,
    ),
    Table(
        "lane_defaults",
        "Lanes by bloc (`regions.bloc`), so that a case need not list every pair of "
        "regions: a row gives the lane from every region of `origin_bloc` to every other "
        "region of `market_bloc`, for one modality or for every one. A `lanes` row for the "
        "pair, and the domestic lane (origin = market), come first; a region whose bloc is "
        "empty has no default lanes. Without this table, a pair missing from `lanes` has "
        "no lane (as before the table existed).",
        (
            Column("origin_bloc", "str", "bloc of the producing regions", required=True,
                   ref="regions.bloc"),
            Column("market_bloc", "str", "bloc of the markets (may be the origin's: the "
                   "lanes between the bloc's regions)", required=True, ref="regions.bloc"),
            Column("modality", "str", "modality the row is for (empty: every modality "
                   "without a row of its own for these blocs)", default="",
                   ref="modalities.modality"),
            *_LANE_COSTS,
        ),
        key=("origin_bloc", "market_bloc", "modality"),
        required=False,
    ),
    Table(
        "funds",
        "Co-investment funds (government programme, investor, bank): each pays part of "
        "the cost types it is eligible for (`pays`) within its share cap and budget.",
        (
            _id("fund", "fund identifier"),
            Column("funder", "str", "who provides the money", required=True),
            Column("kind", "str", "type of funder", default="government",
                   choices=("government", "investor", "bank")),
            _share("max_capex_share", "largest share of one investment the fund may cover "
                   "(a module order's capex, a candidate site's opening cost)", default=1.0),
            _share("repayment_share", "present value the consortium repays per unit "
                   "financed (0 for a grant)", default=0.0),
            Column("eligible_regions", "list", "regions it may fund (empty: all)", default=(),
                   ref="regions.region"),
            Column("eligible_sites", "list", "sites it may fund (empty: all)", default=(),
                   ref="sites.site"),
            Column("eligible_modalities", "list", "modalities it may fund (empty: all); it "
                   "may pay a site's opening where the site has a suite of one of them",
                   default=(), ref="modalities.modality"),
            Column("pays", "list", "cost types it may pay: `capex` (expansion modules), "
                   "`opening` (candidate sites' opening costs) or both (`capex;opening`)",
                   default=("capex",), choices=FUND_COST_TYPES),
            _share("reinvest_share", "share of the consortium's operating margin in the "
                   "previous period (when positive) added to the fund's budget: the bank's "
                   "reinvestment loop", default=0.0),
        ),
        key=("fund",),
        required=False,
    ),
    Table(
        "fund_budgets",
        "Money a fund can commit in a period.",
        (
            _id("fund", "fund", ref="funds.fund"),
            _period("period", "period"),
            Column("budget_musd", "float", "budget for the costs it pays (module capex, "
                   "openings) committed in the period, MUSD",
                   required=True, lower=0.0, upper=MAX_MONEY_MUSD),
        ),
        key=("fund", "period"),
        required=False,
    ),
    Table(
        "rules",
        "Policy rules by market. `subject`: for `barred`, an operator or `flag:NAME`; for "
        "`max_operator_share`, an operator or `*` (each operator); for `max_country_share`, "
        "a region or `*` (each region); for `min_service_level` (served ÷ (committed + "
        "potential demand) of the market in each period at least `share`), a modality or "
        "empty (every program); unused for `min_domestic_share` and `max_time_to_market` "
        "(the programs' mean years of the market's potential demand left unserved, at most "
        "`limit_years`; models/formulation.md).",
        (
            _id("rule", "rule identifier"),
            Column("kind", "str", "rule type", required=True, choices=RULE_KINDS),
            _id("market", "market the rule applies to", ref="regions.region"),
            Column("subject", "str", "who the rule names (see above)", default=""),
            _share("share", "the share limit; for `min_service_level` the least share of the "
                   "demand served (unused for `barred`, `max_time_to_market`)", default=0.0),
            Column("basis", "str", "`min_domestic_share`: the share of the market's supply "
                   "(`supply`) or of its demand, committed + potential (`demand`: supplying "
                   "less does not help meet it)", default="supply", choices=SHARE_BASES),
            Column("measure", "str", "what the rule counts in the shares and service "
                   "levels (not for `barred`, `max_time_to_market`): `batches`, each batch "
                   "as one; `value`, each batch weighted by its value, MUSD "
                   "(`demand.value_musd_per_batch` of its program, market and period, else "
                   "the offtakes' `price_musd_per_batch`); `weight`, each batch weighted by "
                   "its program's `weight`, else its modality's", default="batches",
                   choices=RULE_MEASURES),
            Column("limit_years", "float", "`max_time_to_market`: the most mean years of "
                   "potential demand left unserved per program", default=0.0, lower=0.0,
                   upper=1000.0),
            Column("active", "bool", "whether the rule is applied", default=True),
        ),
        key=("rule",),
        required=False,
    ),
)

TABLES = (*TABLES, Table(
    "reservations",
    "Capacity a CDMO offers to reserve at one of its suites, in blocks, for named startups "
    "(pooled when several are named): reserved slots come on top of the suite's own "
    "capacity, cost their fee per period whether used or not, and at least the minimum "
    "take must be used by the members' programs.",
    (
        _id("reservation", "reservation identifier"),
        _id("site", "site of the suite", ref="sites.site"),
        Column("modality", "str", "modality of the suite", required=True,
               ref="modalities.modality"),
        Column("scale", "str", "scale of the suite", required=True, choices=SCALES),
        Column("members", "list", "startups whose programs may use it (empty: any program)",
               default=(), ref="programs.startup"),
        Column("block_batches", "float", "batch slots per period one block reserves",
               required=True, lower=0.0, lower_open=True, upper=MAX_BATCHES),
        Column("max_blocks", "int", "most blocks reserved in a period", default=1, lower=0,
               upper=1000),
        _money("fee_musd_per_batch", "fee per reserved batch slot per period, MUSD"),
        _share("min_take_share", "share of the reserved slots the members must use in each "
               "period they hold the reservation (take-or-pay)", default=0.0),
    ),
    key=("reservation",),
    required=False,
), Table(
    "members",
    "The consortium whose cost `capacity allocate` shares out: startups (their programs' "
    "demand and commitments) and anchors (their commitments). Without this table, the "
    "anchors are the members.",
    (
        _id("member", "a startup (programs.startup) or an anchor (anchors.anchor)"),
        Column("kind", "str", "what the member is", required=True,
               choices=("startup", "anchor")),
        Column("name", "str", "display name", default=""),
    ),
    key=("member",),
    required=False,
), Table(
    "readouts",
    "Phase readouts of a program for `capacity stochastic`: at each readout the program "
    "goes on with its probability of success (conditional on the readouts before); once "
    "one fails, it has no demand (committed or potential) from that period on. A program "
    "listed here takes its probability from these rows, not from "
    "`programs.success_probability` (which must then be 1 or their product).",
    (
        _id("program", "program", ref="programs.program"),
        _period("period", "first period whose demand depends on this readout"),
        _share("success_probability", "probability of passing this readout, given the "
               "earlier ones passed", required=True),
    ),
    key=("program", "period"),
    required=False,
), Table(
    "disruptions",
    "Disruptions for `capacity stochastic` (and `capacity pareto --objective "
    "resilience:...`): each row an independent event that happens with its probability "
    "and, when it does, cuts a piece of the network from `from_period` for `periods` "
    "periods (empty: to the end of the horizon) as an `outages` row would: a site lost, "
    "an operator's or a country's sites lost, or, with a `market`, an export ban (the "
    "subject's sites cannot ship to that market). Scenarios combine the disruptions with "
    "the programs' clinical outcomes (models/formulation.md, \"Disruption scenarios\").",
    (
        _id("disruption", "disruption identifier"),
        Column("kind", "str", "what is cut: a `site`, an `operator`'s sites or a "
               "`country`'s sites (a region)", required=True,
               choices=DISRUPTION_KINDS),
        Column("subject", "str", "the site, operator or region cut off", required=True),
        Column("market", "str", "empty: the subject's sites are lost (supply no market); "
               "a market: only their shipments to it are cut (an export ban)", default="",
               ref="regions.region"),
        _share("probability", "probability that the disruption happens (independent of "
               "the others and of clinical outcomes)", required=True),
        _period("from_period", "first period cut when it happens"),
        Column("periods", "int", "how many periods it lasts (empty: to the end of the "
               "horizon)", default=None, lower=1, upper=MAX_PERIOD),
    ),
    key=("disruption",),
    required=False,
), Table(
    "stock_targets",
    "Strategic stock: at least `min_batches` of a program held in stock at the end of a "
    "period at the sites that can supply a market (a lane to it, the operator not barred "
    "from it), counting the batches of the scale the program is supplied at in the next "
    "period (in the last period, its own). Only programs with a shelf life of 1 period or "
    "more can be stored; a batch held beyond what is shipped is written off when its "
    "shelf life ends.",
    (
        _id("program", "program", ref="programs.program"),
        _id("market", "market the stock is held for", ref="regions.region"),
        _period("period", "period at whose end the stock is held"),
        _batches("min_batches", "batches held at least", required=True),
    ),
    key=("program", "market", "period"),
    required=False,
), Table(
    "objective",
    "How the optimum is reported (at most one row). The engine always minimises the net "
    "cost; a case may ask for it to be reported as `offset + cost` (minimise) or as "
    "`offset − cost` (maximise), e.g. to report a profit or an imported benchmark's own "
    "objective.",
    (
        Column("sense", "str", "sense the objective is reported in", default="minimise",
               choices=("minimise", "maximise")),
        Column("offset", "float", "constant added to the reported objective",
               default=0.0, lower=-1e12, upper=1e12),
        Column("unit", "str", "unit of the reported objective", default="MUSD"),
    ),
    key=("sense",),
    required=False,
), Table(
    "settings",
    "Case-wide settings and defaults (at most one row; without the table, or where a cell "
    "is empty, each column takes its default). `continuity_share` is the share of a "
    "launched product's demand that must go on being served (models/formulation.md, "
    "\"Continuity of supply\"): 0, the default, leaves a case as it was before the "
    "setting existed, where a plan may drop a launched product when capacity is worth "
    "more elsewhere (the plan's messages then say so); a planner protecting patients "
    "should set it (e.g. 0.8).",
    (
        _share("continuity_share", "least share of a launched product's demand in a market "
               "(committed + potential) served in every period after its commercial "
               "launch there, for programs whose `programs.continuity_share` is empty",
               default=0.0),
    ),
    key=(),
    required=False,
))

TABLES = (*TABLES, Table(
    "approvals",
    "Site approvals per market (FDA, EMA, PMDA, ...), where `regions.approval_required` "
    "(commercial supply) or `clinical_approval_required` says the market needs one: a "
    "site supplies such a market only once approved for it. A row is either approved "
    "(`approved_from`) or approvable, at a cost, a lead time after the model decides it "
    "(a pre-approval inspection of a site that can produce). A site without a row for "
    "such a market never supplies it; rows for markets that need no approval are not "
    "used. One approval covers every scale the market requires approval for.",
    (
        _id("site", "site approved", ref="sites.site"),
        _id("market", "market the approval is for", ref="regions.region"),
        Column("modality", "str", "modality approved (empty: every modality of the site "
               "that has no row of its own)", default="", ref="modalities.modality"),
        _period("approved_from", "approved from this period on (empty: approvable, with "
                "`lead_time_periods` and `cost_musd`)", required=False),
        Column("lead_time_periods", "int", "approvable rows: periods from the decision "
               "(the inspection and review start, the site able to produce) until the "
               "approval", default=0, lower=0, upper=50),
        _money("cost_musd", "approvable rows: the pre-approval inspection and filing, "
               "MUSD, discounted at the decision"),
    ),
    key=("site", "market", "modality"),
    required=False,
))

TABLES = (*TABLES, Table(
    "outages",
    "Pieces of the network cut off for a span of periods: a site lost, an operator's "
    "sites lost, a country's sites lost (`kind` site, operator or country; `subject` the "
    "site, operator or region), or, with a `market`, the subject's sites barred from "
    "shipping to that market (an export ban). While cut, a lost site makes nothing and "
    "ships nothing (stock it holds waits); a banned site ships nothing to the market. "
    "Decisions to build, open or transfer are not cut: a plan may still invest there "
    "for the periods after. A commitment no site is left to serve makes the case "
    "infeasible, naming the outage (models/formulation.md, \"Outages\"; `capacity "
    "stress` adds rows here for each contingency).",
    (
        _id("outage", "outage identifier"),
        Column("kind", "str", "what is cut: a `site`, an `operator`'s sites or a "
               "`country`'s sites (a region)", required=True, choices=OUTAGE_KINDS),
        Column("subject", "str", "the site, operator or region cut off", required=True),
        Column("market", "str", "empty: the subject's sites are lost (supply no market); "
               "a market: only their shipments to it are cut (an export ban)", default="",
               ref="regions.region"),
        _period("from_period", "first period cut"),
        _period("until_period", "last period cut, inclusive (empty: to the end of the "
                "horizon)", required=False),
        Column("active", "bool", "whether the outage is applied", default=True),
    ),
    key=("outage",),
    required=False,
))

TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}


def format_markdown() -> str:
    """Render the case format as Markdown (the content of docs/case-format.md)."""
    lines = [
        "# Case format",
        "",
        "<!-- generated by `python -m capacity.case.schema`; edit src/capacity/case/schema.py -->",
        "",
        "A case is a folder of tables: one CSV file per table (`sites.csv`), or one Parquet",
        "file per table (`sites.parquet`), or one `.xlsx` workbook with one sheet per table",
        "(sheet name = table name). Identifiers are case-sensitive text. Empty cells in",
        "optional columns take the default. Unknown columns are errors (they are usually",
        "typos). Lists are `;`-separated. Rows are counted as a spreadsheet counts them:",
        "the header is row 1.",
        "",
        "Units: money in millions of the case currency (`_musd`: the default case uses",
        "USD); capacity, demand and shipments in batches per period; shares as fractions.",
        "",
        "## Units: what a batch is",
        "",
        "A batch is the modality's own unit, what `modalities.batch` says (the built-in",
        "list below: one 2,000 L antibody bioreactor run, one AAV vector lot, one CAR-T",
        "patient lot). Every count of a program's batches is in its modality's batches:",
        "",
        "- capacity: a suite's `existing_batches_per_period` and `module_batches_per_period`",
        "  are batch slots a period of the suite's modality (10 in a cell suite: 10 patient",
        "  lots; in an antibody suite: 10 runs); `yields.slots_per_batch` says where one",
        "  program's batch takes more slots, and failed batches take slots too",
        "  (`success_rate`);",
        "- demand: `demand.potential_batches` and `offtakes.committed_batches` count",
        "  delivered batches of the program's modality in the period;",
        "- lanes: `transport_musd_per_batch` is per batch of the modality shipped, which is",
        "  why a lane (or a lane default) may name a modality: a cryo-shipped patient lot",
        "  does not cost what an antibody batch costs.",
        "",
        "Batches of different modalities are different amounts of medicine and value. Share",
        "rules and service levels count them in the rule's `measure` (batches, value or a",
        "weight per modality: \"Rule measures\" under `rules`); concentration and the",
        "report's totals count one batch as one, whatever its modality.",
        "",
        "The default case in `data/default/` is the worked example of every table.",
        "",
    ]
    for table in TABLES:
        need = "required" if table.required else "optional"
        key = (f"Key: {', '.join(f'`{k}`' for k in table.key)}." if table.key
               else "One row at most.")
        lines += [f"## `{table.name}` ({need})", "", table.doc, "", key, "",
                  "| column | type | required | default | allowed | meaning |",
                  "|---|---|---|---|---|---|"]
        for col in table.columns:
            allowed = _allowed(col)
            default = "" if col.required else f"`{_show(col.default)}`"
            req = "yes" if col.required else "no"
            lines.append(f"| `{col.name}` | {col.kind} | {req} | {default} | {allowed} | "
                         f"{col.doc} |")
        lines.append("")
        if table.name == "lane_defaults":
            lines += _LANES_EXAMPLE
        if table.name == "funds":
            lines += _WHERE_FUNDS_APPLY
        if table.name == "modalities":
            lines += ["The built-in modalities (a case without a `modalities` table uses "
                      "these, every batch succeeding and shipping when made, no changeover "
                      "slots):", "",
                      "| modality | name | one batch is |", "|---|---|---|",
                      *(f"| `{q}` | {name} | {batch} |" for q, name, batch in DEFAULT_MODALITIES),
                      ""]
        if table.name == "rules":
            lines += MEASURES_TEXT
    return "\n".join(lines)


_LANES_EXAMPLE = [
    "Which lane a batch takes: for a batch of modality q from region o to market m, the "
    "first of",
    "",
    "1. the `lanes` row (o, m, q);",
    "2. the `lanes` row (o, m) with an empty modality;",
    "3. the domestic lane (o = m): free (a `lanes` row gives it a cost; defaults never "
    "do);",
    "4. the `lane_defaults` row (bloc of o, bloc of m, q);",
    "5. the `lane_defaults` row (bloc of o, bloc of m) with an empty modality;",
    "",
    "and no lane (nothing of q ships from o to m) where none applies. The row that applies "
    "gives both numbers: a row for a modality replaces the row for every modality, tariff "
    "included (an empty tariff there is 0). `capacity.model.lanes.lane_costs(case)` lists "
    "every lane as resolved, with the rule that gave it.",
    "",
    "Example (data/tiny/lanes_modality, worked out in its README): JP and KR in bloc "
    "`Asia`, US in `NA`; three defaults and one lane stand for the six pairs of regions "
    "and two modalities:",
    "",
    "| table | origin | market | modality | transport_musd_per_batch | tariff_rate |",
    "|---|---|---|---|---|---|",
    "| lane_defaults | Asia | Asia | | 0.2 | 0 |",
    "| lane_defaults | NA | Asia | | 0.5 | 0.1 |",
    "| lane_defaults | NA | Asia | cell_autologous | 0.3 | 0.1 |",
    "| lanes | JP | KR | cell_autologous | 1.0 | 0 |",
    "",
    "An antibody batch from JP to KR pays 0.2 (the Asia default), a cell lot 1.0 (its own "
    "lane, cryo); from the US to KR or JP, an antibody batch 0.5 and a cell lot 0.3, both "
    "with the 10 % tariff; JP → JP and US → US are free; nothing ships from JP to the US "
    "(no Asia → NA row).",
    "",
]

_WHERE_FUNDS_APPLY = [
    "Where funds apply. A fund pays only the cost types its `pays` names: `capex`, the "
    "expansion modules' capital cost (the default), and `opening`, candidate sites' "
    "one-off opening cost; never production, fixed, transfer, transport or approval "
    "costs. Its eligibility narrows what it may pay: `eligible_regions` and "
    "`eligible_sites` name the site of the module or the site opened; "
    "`eligible_modalities` the module's modality, or for an opening, a suite the site "
    "has. Each investment is covered up to `max_capex_share`, and the fund's capex and "
    "openings of a period together stay within its `fund_budgets` budget (plus "
    "reinvestment, `reinvest_share`). A fund \"for candidate sites\" is one with `pays` "
    "`opening` (or `capex;opening`) and the sites in `eligible_sites`.",
]

# What docs/case-format.md says under the `rules` table: what a rule's `measure` counts,
# and why "a batch per period" is not one unit across modalities.
MEASURES_TEXT = [
    "### Rule measures: what a share counts",
    "",
    "A batch is its modality's own unit (\"Units: what a batch is\" above), so one AAV "
    "lot (~12 MUSD) and one CAR-T lot (~0.3 MUSD) are not the same amount of medicine, "
    "and a share that counts batches can be met with cell lots alone.",
    "",
    "`rules.measure` says what the share rules (`min_domestic_share`, "
    "`max_operator_share`, `max_country_share`) and `min_service_level` count:",
    "",
    "- `batches` (the default, the rule as it always was): every batch counts 1;",
    "- `value`: every batch counts its value in MUSD: `demand.value_musd_per_batch` of "
    "its program, market and period where above 0, else the committed-weighted "
    "`offtakes.price_musd_per_batch` (one value for every batch of a program, market "
    "and period, committed or potential, as shipments do not tell them apart); a rule in "
    "value on a market where a batch has neither is refused at validation;",
    "- `weight`: every batch counts `programs.weight`, else its modality's "
    "`modalities.weight` (default 1), e.g. patients or doses per batch.",
    "",
    "A measure has no meaning for `barred` and `max_time_to_market` rules (refused). The "
    "plan's `rule_kpis` table, the `capacity solve` summary, the report and `capacity "
    "explain` give each rule's share in its measure (\"domestic share of value in A\"); "
    "`market_kpis` stays in batches. models/formulation.md, \"Rule measures\", has the "
    "math and a worked case (`data/tiny/share_measure`).",
    "",
]


def _show(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, tuple):
        return "" if not value else ";".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _allowed(col: Column) -> str:
    parts = []
    if col.choices:
        parts.append(", ".join(f"`{c}`" for c in col.choices))
    if col.lower is not None or col.upper is not None:
        lo = "" if col.lower is None else f"{col.lower:g} {'<' if col.lower_open else '≤'} "
        hi = "" if col.upper is None else f" ≤ {col.upper:g}"
        parts.append(f"{lo}x{hi}")
    if col.ref:
        parts.append(f"in `{col.ref}`")
    return "; ".join(parts)


if __name__ == "__main__":
    print(format_markdown())
