"""The INSERT ... SELECT generate_series statements behind crm/maintenance/demo_data.py.

Every value is a function of the row number ``g`` (and of the pools' sizes), so the
same scale always produces the same rows; see crm/maintenance/demo_data.py for the design.
"""

from __future__ import annotations

from crm.models.customer import INDUSTRIES

# A customer's permuted number: unique per row, spread over the name pools.
CUSTOMER_PERM = "((g::bigint * :spread) % (CAST(:nf AS bigint) * :nl * :nc))"
# Which customer (1..ncust) a lead belongs to, and which owner (0..no-1) a customer has.
LEAD_CUSTOMER = "(1 + ((g::bigint * 40503) % :ncust))"
LEAD_OF = "(1 + ((g::bigint * 69069) % :nleads))"


def _owner_of(customer_number: str) -> str:
    return f"((({customer_number})::bigint * 7919) % :no)"


STAGE_WEIGHTS = "ARRAY[1,1,1,1,2,2,2,3,3,4,4,5,6,6,6,7,7]"  # more early-stage leads
# The stages' ids by order_index (1 New ... 6 Closed Won, 7 Closed Lost), from the load.
STAGE_AT = "(CAST(:stage_ids AS integer[]))"
LEAD_CREATED = "now()::timestamp - make_interval(mins => ((g * 6007) % 1051200)::int)"
# A lead's path, by stage order: k, the stage it is in (a young lead has had no time to
# go far: one stage per ten days of age at most); top, the furthest it went before (it
# passed 1..top: k - 1 going forward; Closed Lost leads were lost at New to Negotiation,
# most of them early; one open lead in 29 at Contacted to Proposal went a stage further
# and came back); done, when it made its last move (closed leads: when they closed;
# open ones: 4 to 24 days a stage). The leads and their stage history both come from it.
LEAD_PATH = f"""
        CROSS JOIN LATERAL (SELECT k, top,
            CASE WHEN k >= 6 THEN least(x.ts + make_interval(days => (g % 90)::int),
                                        now()::timestamp)
                 ELSE least(x.ts + make_interval(days => (top * (4 + (g * 7) % 21))::int),
                            now()::timestamp)
            END AS done
            FROM (SELECT k, CASE WHEN k = 7 THEN (ARRAY[1,1,2,2,2,3,3,4,5])[1 + g % 9]
                                 WHEN g % 29 = 0 AND k BETWEEN 2 AND 4 THEN k + 1
                                 ELSE k - 1 END AS top
                  FROM (SELECT least(({STAGE_WEIGHTS})[1 + (g * 3) % 17],
                                     1 + ((g * 6007) % 1051200) / 14400) AS k) AS w) AS t) AS p"""
CURRENCIES = "ARRAY['USD','USD','USD','USD','USD','USD','USD','EUR','EUR','GBP','CAD','AUD']"
SOURCES = (
    "ARRAY['Website','Referral','Cold call','Trade show','Partner','LinkedIn','Email campaign',"
    "'Webinar']"
)
INDUSTRY_ARRAY = "ARRAY[" + ",".join(f"'{name}'" for name in INDUSTRIES) + "]"
PRODUCTS = (
    "ARRAY['Platform licence','Support renewal','Onboarding package','Enterprise plan',"
    "'Analytics add-on','Consulting hours','Hardware refresh','Team expansion']"
)

# Short interaction subjects: people write "Call: pricing", not a slogan (and every
# character costs trigram-index build time at 3 million rows).
TOPICS = (
    "ARRAY['pricing','intro','follow-up','demo','contract','renewal','check-in','support',"
    "'onboarding','references','next steps','budget']"
)


def _audit_value(n: str) -> str:
    """A value of the audited field that fits its column (t.i: which table), from ``n``."""
    return (
        f"CASE t.i WHEN 0 THEN to_jsonb((ARRAY['active','inactive','prospect'])[1 + ({n}) % 3]) "
        f"WHEN 1 THEN to_jsonb(1 + ({n}) % 7) "
        f"WHEN 2 THEN to_jsonb((ARRAY['pending','in_progress','completed','cancelled'])"
        f"[1 + ({n}) % 4]) "
        f"ELSE to_jsonb('Outcome ' || (({n}) % 89)) END"
    )


INSERTS: dict[str, str] = {
    "customers": f"""
        INSERT INTO customers (id, name, email, phone, company, industry, website, address,
            city, state, country, postal_code, owner_id, status, notes, created_at, updated_at)
        SELECT :base + g,
               f.v || ' ' || l.v,
               lower(regexp_replace(f.v, '[^A-Za-z]', '', 'g')) || '.'
                 || lower(regexp_replace(l.v, '[^A-Za-z]', '', 'g')) || '@' || c.domain,
               '+1-' || lpad(((g * 7) % 900 + 100)::text, 3, '0') || '-555-'
                 || lpad((g % 10000)::text, 4, '0'),
               c.v,
               ({INDUSTRY_ARRAY})[1 + (g * 31) % 9],
               'https://www.' || c.domain,
               ((g * 13) % 9000 + 100)::text || ' ' || l.v || ' Street',
               pl.city, pl.state, 'United States', pl.postcode,
               o.user_id,
               (ARRAY['active','active','active','active','active','active','inactive',
                      'prospect'])[1 + (g * 17) % 8],
               CASE WHEN g % 5 = 0 THEN ph.v END,
               ts, ts
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
        CROSS JOIN LATERAL (SELECT {CUSTOMER_PERM} AS p,
            now()::timestamp - make_interval(mins => ((g * 7919) % 1576800)::int) AS ts) x
        JOIN demo_first f ON f.i = x.p % :nf
        JOIN demo_last l ON l.i = (x.p / :nf) % :nl
        JOIN demo_company c ON c.i = (x.p / (CAST(:nf AS bigint) * :nl)) % :nc
        JOIN demo_place pl ON pl.i = (g * 101) % :np
        JOIN demo_phrase ph ON ph.i = (g * 37) % :nph
        JOIN demo_owner o ON o.i = {_owner_of("g")}
    """,
    "leads": f"""
        INSERT INTO leads (id, title, description, amount, currency, customer_id, stage_id,
            owner_id, source, probability, expected_close_date, closed_at, created_at,
            updated_at, stages_passed, previous_stage_id, stage_entered_at)
        SELECT :base + g,
               ({PRODUCTS})[1 + (g * 11) % 8] || ' for ' || c.v,
               CASE WHEN g % 2 = 0 THEN s.v END,
               round(((g * 2654435761) % 4990000 + 50000)::numeric / 10, 2),
               ({CURRENCIES})[1 + (g * 7) % 12],
               :customer_base + x.cust,
               {STAGE_AT}[p.k],
               o.user_id,
               ({SOURCES})[1 + (g * 5) % 8],
               (ARRAY[10, 20, 40, 60, 80, 100, 0])[p.k],
               -- Open deals close from three weeks ago to five months ahead of the day
               -- the data is loaded; closed ones some weeks after they were created.
               CASE WHEN p.k >= 6
                    THEN (x.ts + make_interval(days => (30 + (g * 3) % 150)::int))::date
                    ELSE (now() + make_interval(days => ((g * 3) % 170)::int - 20))::date
               END,
               CASE WHEN p.k >= 6 THEN p.done END,
               x.ts, x.ts,
               -- sorted by id, as the path trigger keeps it
               ARRAY(SELECT unnest({STAGE_AT}[1:p.top]) ORDER BY 1), {STAGE_AT}[p.top],
               CASE WHEN p.top > 0 THEN p.done END
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
        CROSS JOIN LATERAL (SELECT {LEAD_CUSTOMER} AS cust, {LEAD_CREATED} AS ts) x
        {LEAD_PATH}
        JOIN demo_company c ON c.i = ((x.cust * :spread) / (CAST(:nf AS bigint) * :nl)) % :nc
        JOIN demo_sentence s ON s.i = (g * 13) % :ns
        JOIN demo_owner o ON o.i = {_owner_of("x.cust")}
    """,
    # Each lead's way to its stage (see LEAD_PATH): a creation row, then one per move,
    # spread evenly from its creation to its last move, made by its owner.
    "lead_stage_history": f"""
        INSERT INTO lead_stage_history (lead_id, from_stage_id, to_stage_id, changed_at,
            changed_by)
        SELECT :base + g,
               CASE WHEN step > 0 THEN {STAGE_AT}[step] END,
               {STAGE_AT}[CASE WHEN step = p.top THEN p.k ELSE step + 1 END],
               x.ts + (p.done - x.ts)
                    * (CASE WHEN p.top = 0 THEN 0 ELSE step::float8 / p.top END),
               o.user_id
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
        CROSS JOIN LATERAL (SELECT {LEAD_CUSTOMER} AS cust, {LEAD_CREATED} AS ts) x
        {LEAD_PATH}
        CROSS JOIN LATERAL generate_series(0, p.top) AS step
        JOIN demo_owner o ON o.i = {_owner_of("x.cust")}
    """,
    "tasks": f"""
        INSERT INTO tasks (id, title, description, status, priority, due_date, completed_at,
            user_id, customer_id, lead_id, assigned_to, created_at, updated_at)
        SELECT :base + g,
               (ARRAY['Call','Email','Send proposal to','Follow up with','Schedule demo for',
                      'Prepare contract for','Review needs of','Check in with'])[1 + (g * 3) % 8]
                 || ' ' || c.v,
               CASE WHEN g % 3 = 0 THEN s.v END,
               x.status::task_status,
               (ARRAY['low','medium','medium','high'])[1 + (g * 7) % 4],
               -- Open tasks fall due around the day the data is loaded (a few overdue,
               -- most in the next two months); done ones around when they were made.
               CASE WHEN x.status IN ('pending', 'in_progress')
                    THEN now()::timestamp + make_interval(days => ((g * 13) % 75)::int - 10)
                    ELSE x.ts + make_interval(days => (g % 60)::int - 20)
               END,
               CASE WHEN x.status = 'completed'
                    THEN least(x.ts + make_interval(days => (g % 20)::int), now()::timestamp)
               END,
               o.user_id,
               :customer_base + x.cust,
               CASE WHEN g % 4 <> 0 THEN :lead_base + x.lead END,
               CASE WHEN g % 10 = 0 THEN o2.user_id END,
               x.ts, x.ts
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
        CROSS JOIN LATERAL (SELECT {LEAD_OF} AS lead) l
        CROSS JOIN LATERAL (SELECT l.lead AS lead,
            (1 + ((l.lead::bigint * 40503) % :ncust)) AS cust,
            (ARRAY['pending','pending','in_progress','completed','completed','cancelled'])
              [1 + (g * 5) % 6] AS status,
            now()::timestamp - make_interval(mins => ((g * 4999) % 1051200)::int) AS ts) x
        JOIN demo_company c ON c.i = ((x.cust * :spread) / (CAST(:nf AS bigint) * :nl)) % :nc
        JOIN demo_sentence s ON s.i = (g * 17) % :ns
        JOIN demo_owner o ON o.i = {_owner_of("x.cust")}
        JOIN demo_owner o2 ON o2.i = (g * 31) % :no
    """,
    "interactions": f"""
        INSERT INTO interactions (id, type, subject, description, customer_id, lead_id, user_id,
            interaction_date, duration_minutes, outcome, follow_up_date, created_at, updated_at)
        SELECT :base + g,
               x.kind::interaction_type,
               initcap(x.kind) || ': ' || ({TOPICS})[1 + (g * 7) % 12],
               CASE WHEN g % 2 = 0 THEN s.v END,
               :customer_base + x.cust,
               CASE WHEN g % 3 <> 0 THEN :lead_base + x.lead END,
               o.user_id,
               x.ts,
               CASE WHEN x.kind IN ('call', 'meeting') THEN 5 + (g * 7) % 85 END,
               (ARRAY['Interested','Needs follow-up','Not now','Sent information',
                      'Booked next meeting','No answer'])[1 + (g * 11) % 6],
               CASE WHEN g % 4 = 0 THEN (x.ts + make_interval(days => 7))::date END,
               x.ts, x.ts
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
        CROSS JOIN LATERAL (SELECT {LEAD_OF} AS lead) l
        CROSS JOIN LATERAL (SELECT l.lead AS lead,
            (1 + ((l.lead::bigint * 40503) % :ncust)) AS cust,
            (ARRAY['call','email','email','meeting','note'])[1 + (g * 3) % 5] AS kind,
            now()::timestamp - make_interval(mins => ((g * 3001) % 1576800)::int) AS ts) x
        JOIN demo_sentence s ON s.i = (g * 23) % :ns
        JOIN demo_owner o ON o.i = {_owner_of("x.cust")}
    """,
    "audit_logs": f"""
        INSERT INTO audit_logs (id, table_name, record_id, action, old_values, new_values,
            user_id, ip_address, user_agent, created_at)
        SELECT :base + g,
               t.name,
               t.base + 1 + (g * 7919) % t.n,
               x.action,
               CASE WHEN x.action <> 'INSERT'
                    THEN jsonb_build_object(t.field, {_audit_value("g")}) END,
               CASE WHEN x.action <> 'DELETE'
                    THEN jsonb_build_object(t.field, {_audit_value("g + 1")}) END,
               o.user_id,
               ('10.' || (g % 250) || '.' || (g * 7 % 250) || '.' || (g * 13 % 250))::inet,
               'Mozilla/5.0 (demo data)',
               now()::timestamp - make_interval(mins => ((g * 2003) % 2102400)::int)
        FROM generate_series(CAST(:lo AS bigint), CAST(:hi AS bigint)) AS g
        CROSS JOIN LATERAL (SELECT (ARRAY['INSERT','UPDATE','UPDATE','UPDATE','DELETE'])
            [1 + (g * 3) % 5] AS action) x
        JOIN (VALUES (0, 'customers', 'status', :customer_base, :ncust),
                     (1, 'leads', 'stage_id', :lead_base, :nleads),
                     (2, 'tasks', 'status', :task_base, :ntasks),
                     (3, 'interactions', 'outcome', :interaction_base, :ninteractions))
             AS t(i, name, field, base, n) ON t.i = g % 4
        JOIN demo_owner o ON o.i = (g * 13) % :no
    """,
}
