"""/admin/pipeline/: the funnel (Plotly) with its filters, and the same numbers as a table."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from flask import abort, flash, jsonify, redirect, request
from flask_admin import BaseView, expose
from flask_login import current_user
from wtforms import DateField, RadioField, SelectField
from wtforms.validators import Optional, ValidationError

from crm.admin.filters import owners
from crm.admin.urls import list_url, view_url
from crm.extensions import db
from crm.models import CURRENCIES, LEAD_SOURCES, LeadStage
from crm.models.lead import CLOSED_WON
from crm.sales import asof, board, charts, pipeline, timing
from crm.sales.rates import base_currency
from crm.security import policy
from crm.security.policy import Action, Resource
from crm.web.edge import path_of
from crm.web.forms import Form
from crm.web.ids import row_id

DATE_HINT = "Use a date like 2026-01-31."


def _not_before(start: str) -> Any:
    def check(form: Form, field: DateField) -> None:
        begin = form[start].data
        if field.data and begin and field.data < begin:
            raise ValidationError("The end of a range cannot come before its start.")

    return check


def _sensible(_form: Form, field: DateField) -> None:
    """Years 1900 to 9998: a range's end a day or a month on must still be a date."""
    if field.data and not date(1900, 1, 1) <= field.data <= date(9998, 12, 31):
        raise ValidationError("Use a date between 1900 and 9998.")


def _not_after_today(_form: Form, field: DateField) -> None:
    """An as-of day has happened: the pipeline of a day to come is not known."""
    if field.data and field.data > datetime.now(UTC).date():
        raise ValidationError(
            "Pick today or an earlier day: the pipeline of a later one is not known yet."
        )


class PipelineForm(Form):
    """The funnel's filters (a GET form: it changes nothing, so no CSRF token)."""

    class Meta:  # noqa: D106 - WTForms' options
        csrf = False

    owner = SelectField("Owner", choices=[], default="")
    source = SelectField(
        "Source", choices=[("", "All sources"), *[(s, s) for s in LEAD_SOURCES]], default=""
    )
    # "": every currency, converted to the base currency (choices: currency_choices()).
    currency = SelectField("Currency", choices=[], default="")
    created_from = DateField("Created from", [Optional(), _sensible])
    created_to = DateField("to", [Optional(), _sensible, _not_before("created_from")])
    close_from = DateField("Expected close from", [Optional(), _sensible])
    close_to = DateField("to", [Optional(), _sensible, _not_before("close_from")])
    as_of = DateField("As of", [Optional(), _sensible, _not_after_today])
    measure = RadioField("Show", choices=list(pipeline.MEASURES.items()), default="count")


def currency_choices() -> list[tuple[str, str]]:
    """Every currency converted to the base one (the default), or one in its own amounts."""
    return [("", f"All, in {base_currency()}"), *[(c, f"{c} only") for c in CURRENCIES]]


def filter_args() -> dict[str, str]:
    """The request's funnel filters, and nothing else it carries, for links between pages.

    Any other argument (``endpoint``, ``_anchor``…) would reach url_for as one of its own.
    """
    fields = PipelineForm.__dict__.keys()
    return {k: v for k, v in request.args.items() if k in fields}


def shown_currency(filters: pipeline.Filters) -> str:
    """The currency the page's amounts are in: the one picked, or the base currency."""
    return filters.currency or base_currency()


class PipelineView(BaseView):
    """The funnel: managers and admins see every owner, sales reps their own leads."""

    def render(self, template: str, **kwargs: Any) -> Any:
        """Every pipeline page links to the others with the same filters."""
        return super().render(
            template,
            filter_args=filter_args(),
            # The board shows leads as they are now: an as-of day does not follow it there.
            board_args={k: v for k, v in filter_args().items() if k != "as_of"},
            may_read_rates=policy.allowed(current_user, Resource.EXCHANGE_RATES, Action.READ),
            may_add_rate=policy.allowed(current_user, Resource.EXCHANGE_RATES, Action.CREATE),
            **kwargs,
        )

    def is_accessible(self) -> bool:
        return policy.allowed(current_user, Resource.PIPELINE, Action.READ)

    def _read_filters(self) -> tuple[PipelineForm, pipeline.Filters | None]:
        """The filter form from the query string, and its filters when they are valid."""
        form = PipelineForm(request.args)
        form.currency.choices = currency_choices()
        everyone = policy.sees_all_rows(current_user)
        if everyone:
            form.owner.choices = [("", "All owners"), *owners()]
        else:  # a sales rep's pipeline is their own, whatever the address asks for
            form.owner.choices = [(str(current_user.id), current_user.name)]
            form.owner.data = str(current_user.id)
        valid = form.validate() if request.args else True
        for name in ("created_from", "created_to", "close_from", "close_to", "as_of"):
            if form[name].errors and form[name].raw_data and not form[name].data:
                form[name].errors = [DATE_HINT]
        return form, (self._filters(form) if valid else None)

    @expose("/")
    def index(self) -> Any:
        form, filters = self._read_filters()
        if filters and filters.as_of:
            asof.make_checkpoints(db.session, filters.as_of)  # before anything is read
        funnel = pipeline.funnel(db.session, current_user, filters) if filters else None
        measure = form.measure.data if form.measure.data in pipeline.MEASURES else "count"
        figure = (
            charts.funnel_figure(funnel, measure, shown_currency(filters))
            if funnel and filters
            else None
        )
        times, speed, months = {}, None, None
        if funnel and filters and filters.as_of is None:  # days in stage and velocity: today's
            mine = pipeline.within_rule(current_user, filters)
            months = timing.months_of(
                (mine.created_from, mine.created_to), (mine.close_from, mine.close_to)
            )
            of = timing.Of(mine.owner_id, mine.currency, mine.source, months)
            times = timing.stage_times(db.session, of)
            won = funnel.won
            speed = timing.velocity(
                sum(s.here.leads for s in funnel.steps if s.name != CLOSED_WON),
                funnel.win_rate,
                won.leads - won.unrated,
                won.amount,
                timing.median_days_to_win(db.session, of),
            )
        cohort_json = None
        if funnel and funnel.cohorts:
            names = [step.name for step in funnel.steps]
            cohort_json = charts.to_json(charts.cohort_figure(funnel.cohorts, names))
        return self.render(
            "admin/pipeline.html",
            form=form,
            funnel=funnel,
            cohort_json=cohort_json,
            times=times,
            velocity=speed,
            time_scope=timing.scope(months, filters.both_ranges) if filters else "",
            filters=filters,
            measure=measure,
            figure_json=charts.to_json(figure) if figure else None,
            # The lead list shows leads as they are now: no links from a past day's stages.
            stage_urls=self._stage_urls(funnel, filters)
            if funnel and filters and filters.as_of is None
            else {},
            shown=shown_currency(filters) if filters else base_currency(),
        )

    @expose("/board")
    def board(self) -> Any:
        """Leads as cards in stage columns (the newest CARDS of each), with totals."""
        form, filters = self._read_filters()
        funnel = (
            pipeline.funnel(db.session, current_user, filters, for_board=True) if filters else None
        )
        columns, stale = [], {}
        now = datetime.now(UTC).replace(tzinfo=None)  # the database's timestamps are UTC
        if funnel and filters:
            steps = [*funnel.steps, *([funnel.lost] if funnel.lost else [])]
            cards = board.board_cards(
                db.session, current_user, filters, [s.stage_id for s in steps]
            )
            columns = [(step, cards.get(step.stage_id, [])) for step in steps]
            stale = board.stale_counts(db.session, current_user, filters, funnel.limits, now)
        return self.render(
            "admin/board.html",
            form=form,
            filters=filters,
            columns=columns,
            stages=[(step.stage_id, step.name) for step, _cards in columns],
            more_urls={step.stage_id: self._more_url(step.stage_id) for step, _ in columns},
            cards_per_column=board.CARDS,
            stage_urls=self._stage_urls(funnel, filters) if funnel and filters else {},
            may_move=policy.allowed(current_user, Resource.LEADS, Action.UPDATE),
            funnel=funnel,
            shown=shown_currency(filters) if filters else base_currency(),
            limits=funnel.limits if funnel else {},
            stale=stale,
            stale_cap=board.STALE_CAP,
            now=now,
        )

    @expose("/board/cards")
    def board_more(self) -> Any:
        """The next cards of one column, after a card's cursor (the column's "show more")."""
        _form, filters = self._read_filters()
        number = row_id(request.args.get("stage", ""))
        after = board.parse_cursor(request.args.get("after", ""))
        stage = db.session.get(LeadStage, number) if number is not None else None
        if filters is None or stage is None or after is None:
            abort(400)
        cards = board.column_cards(db.session, current_user, filters, stage.id, after)
        return self.render(
            "admin/board_cards.html",
            cards=cards,
            stage_id=stage.id,
            stages=board.board_stages(db.session),
            more_url=self._more_url(stage.id),
            cards_per_column=board.CARDS,
            limits={stage.id: limit} if (limit := pipeline.stale_limit(stage)) else {},
            now=datetime.now(UTC).replace(tzinfo=None),
            may_move=policy.allowed(current_user, Resource.LEADS, Action.UPDATE),
        )

    def _more_url(self, stage_id: int) -> str:
        """The column's "show more" address, with the board's filters (the cursor is added)."""
        return view_url("pipeline.board_more", stage=stage_id, **filter_args())

    @expose("/move", methods=["POST"])
    def move(self) -> Any:
        """Move a lead to another stage (the board's drag and drop, or its selector)."""
        wants_json = request.accept_mimetypes.best == "application/json"
        if not policy.allowed(current_user, Resource.LEADS, Action.UPDATE):
            abort(403)
        # The drag and drop sends lead and stage; a card's Move button sends its lead,
        # and its selector is named after it (one form per column: templates/admin/board_card.html).
        lead_id = request.form.get("lead", "")
        stage_id = request.form.get("stage") or request.form.get(f"stage_{lead_id}", "")
        lead = board.readable_lead(db.session, current_user, lead_id)
        if lead is None:
            abort(404)
        number = row_id(stage_id)
        stage = db.session.get(LeadStage, number) if number is not None else None
        if stage is None or not stage.is_active:
            message = "Pick one of the board's stages."
            if wants_json:
                return jsonify(ok=False, message=message), 400
            flash(message, "error")
            return redirect(path_of(request.referrer) or view_url("pipeline.board"))
        lead.stage_id = stage.id
        db.session.commit()  # the audit trigger records the stage change, and who made it
        message = f"“{lead.title}” moved to {stage.name}."
        if wants_json:
            return jsonify(ok=True, message=message)
        flash(message, "success")
        return redirect(path_of(request.referrer) or view_url("pipeline.board"))

    @staticmethod
    def _filters(form: PipelineForm) -> pipeline.Filters:
        """The form's filters (the services keep a sales rep to their own leads)."""
        owner = form.owner.data
        return pipeline.Filters(
            currency=form.currency.data or None,
            owner_id=int(owner) if owner and owner.isdigit() else None,
            source=form.source.data or None,
            created_from=form.created_from.data,
            created_to=form.created_to.data,
            close_from=form.close_from.data,
            close_to=form.close_to.data,
            as_of=form.as_of.data,
        )

    def _stage_urls(self, funnel: pipeline.Funnel, filters: pipeline.Filters) -> dict[int, str]:
        """Per stage, the lead list filtered to that stage and the funnel's filters."""
        common: dict[str, object] = {}
        if filters.currency is not None:
            common["currency"] = filters.currency
        if filters.owner_id is not None:
            common["owner_id"] = filters.owner_id
        if filters.source:
            common["source"] = filters.source
        if filters.created_from or filters.created_to:
            start = datetime.combine(filters.created_from or date(1900, 1, 1), time.min)
            end = datetime.combine(filters.created_to or date(9999, 12, 31), time.max)
            common["created_at"] = f"{start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S}"
        if filters.close_from or filters.close_to:
            first = filters.close_from or date(1900, 1, 1)
            last = filters.close_to or date(9999, 12, 31)
            common["expected_close_date"] = f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"
        steps = [*funnel.steps, *([funnel.lost] if funnel.lost else [])]
        return {
            step.stage_id: list_url("leads", {"stage_id": step.stage_id, **common})
            for step in steps
        }

    def __init__(self) -> None:
        super().__init__(name="Pipeline", endpoint="pipeline", url="pipeline")
