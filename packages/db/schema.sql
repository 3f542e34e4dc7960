-- The schema that packages/db/migrations build, dumped by pg_dump 15 (`npm run db:dump-schema`).
-- Generated: schema-dump.test.ts fails when it and the migrations disagree.

--
-- PostgreSQL database dump
--

--
-- Name: callback_delivery_state; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.callback_delivery_state AS ENUM (
    'pending',
    'delivered',
    'failed',
    'stopped'
);

--
-- Name: credit_source; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.credit_source AS ENUM (
    'payment',
    'invoice',
    'refund',
    'dispute',
    'task',
    'admin'
);

--
-- Name: idempotency_state; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.idempotency_state AS ENUM (
    'in_flight',
    'done'
);

--
-- Name: key_budget_period; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.key_budget_period AS ENUM (
    'day',
    'week',
    'month',
    'total'
);

--
-- Name: ledger_category; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.ledger_category AS ENUM (
    'subscription',
    'micro_payment',
    'refund',
    'api_cost',
    'payment_fee',
    'dispute'
);

--
-- Name: ledger_kind; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.ledger_kind AS ENUM (
    'income',
    'expense'
);

--
-- Name: provider_name; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.provider_name AS ENUM (
    'openai',
    'mistral'
);

--
-- Name: report_period; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.report_period AS ENUM (
    'daily',
    'weekly',
    'monthly'
);

--
-- Name: task_status; Type: TYPE; Schema: public; Owner: -
--

CREATE TYPE public.task_status AS ENUM (
    'pending',
    'processing',
    'completed',
    'failed',
    'canceled'
);

--
-- Name: count_finished_tasks(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.count_finished_tasks() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
  completed bigint := 0;
  failed bigint := 0;
  canceled bigint := 0;
  tokens bigint := 0;
  cost numeric := 0;
BEGIN
  IF TG_OP <> 'DELETE' AND NEW.status NOT IN ('pending', 'processing') THEN
    CASE NEW.status
      WHEN 'completed' THEN
        completed := 1;
        tokens := coalesce(NEW.tokens_used, 0);
        cost := coalesce(NEW.cost_usd, 0);
      WHEN 'failed' THEN failed := 1;
      ELSE canceled := 1;
    END CASE;
  END IF;
  IF TG_OP <> 'INSERT' AND OLD.status NOT IN ('pending', 'processing') THEN
    CASE OLD.status
      WHEN 'completed' THEN
        completed := completed - 1;
        tokens := tokens - coalesce(OLD.tokens_used, 0);
        cost := cost - coalesce(OLD.cost_usd, 0);
      WHEN 'failed' THEN failed := failed - 1;
      ELSE canceled := canceled - 1;
    END CASE;
  END IF;
  INSERT INTO stats_deltas (completed, failed, canceled, tokens, cost_usd)
  VALUES (completed, failed, canceled, tokens, cost);
  RETURN NULL;
END $$;

--
-- Name: count_ledger(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.count_ledger() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
    FROM (SELECT 1 AS sign, kind, currency, amount_usd FROM new_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSIF TG_OP = 'UPDATE' THEN
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
    FROM (SELECT 1 AS sign, kind, currency, amount_usd FROM new_rows
      UNION ALL SELECT -1, kind, currency, amount_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  ELSE
    INSERT INTO stats_counters AS c (shard, income_usd, expense_usd)
    SELECT counter_shard(), coalesce(sum(sign * amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
      coalesce(sum(sign * amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
    FROM (SELECT -1 AS sign, kind, currency, amount_usd FROM old_rows) AS counted
    HAVING count(*) > 0
    ON CONFLICT (shard) DO UPDATE SET income_usd = c.income_usd + excluded.income_usd,
      expense_usd = c.expense_usd + excluded.expense_usd;
  END IF;
  RETURN NULL;
END $$;

--
-- Name: count_users(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.count_users() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  INSERT INTO stats_deltas (users) VALUES (CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END);
  RETURN NULL;
END $$;

--
-- Name: counter_shard(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.counter_shard() RETURNS smallint
    LANGUAGE plpgsql
    AS $$
DECLARE
  preferred smallint := (txid_current() % 32)::smallint;
  chosen smallint;
BEGIN
  SELECT shard INTO chosen FROM stats_counters WHERE shard = preferred FOR NO KEY UPDATE SKIP LOCKED;
  IF chosen IS NULL THEN
    SELECT shard INTO chosen FROM stats_counters FOR NO KEY UPDATE SKIP LOCKED LIMIT 1;
  END IF;
  -- No free row (all held, or none yet after a TRUNCATE): the preferred one, created if missing.
  RETURN coalesce(chosen, preferred);
END $$;

--
-- Name: credit_entries_append_only(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.credit_entries_append_only() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  RAISE EXCEPTION 'credit_entries is append-only: book a correcting entry instead';
END $$;

--
-- Name: credit_entries_move_balance(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.credit_entries_move_balance() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  INSERT INTO credit_balances AS b (user_id, balance)
  SELECT user_id, sum(amount) FROM new_rows WHERE source <> 'task' GROUP BY user_id
  ON CONFLICT (user_id) DO UPDATE SET balance = b.balance + excluded.balance;
  RETURN NULL;
END $$;

--
-- Name: fold_stats_deltas(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.fold_stats_deltas() RETURNS void
    LANGUAGE sql
    AS $$
  WITH folded AS (DELETE FROM stats_deltas RETURNING *)
  INSERT INTO stats_counters AS c (shard, users, completed, failed, canceled, tokens, cost_usd)
  SELECT counter_shard(), sum(users), sum(completed), sum(failed), sum(canceled), sum(tokens), sum(cost_usd)
  FROM folded HAVING count(*) > 0
  ON CONFLICT (shard) DO UPDATE SET users = c.users + excluded.users, completed = c.completed + excluded.completed,
    failed = c.failed + excluded.failed, canceled = c.canceled + excluded.canceled, tokens = c.tokens + excluded.tokens,
    cost_usd = c.cost_usd + excluded.cost_usd
$$;

--
-- Name: ledger_entries_copy_task_model(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.ledger_entries_copy_task_model() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  SELECT t.provider, t.model INTO NEW.provider, NEW.model FROM tasks t WHERE t.id = NEW.task_id;
  RETURN NEW;
END $$;

--
-- Name: mark_report_days_dirty(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.mark_report_days_dirty() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM new_rows;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO report_dirty_days (day) SELECT DISTINCT (occurred_at AT TIME ZONE 'UTC')::date FROM old_rows;
  ELSE
    INSERT INTO report_dirty_days (day)
    SELECT (occurred_at AT TIME ZONE 'UTC')::date FROM new_rows
    UNION SELECT (occurred_at AT TIME ZONE 'UTC')::date FROM old_rows;
  END IF;
  RETURN NULL;
END $$;

--
-- Name: recount_stats(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.recount_stats() RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
  LOCK TABLE users, tasks, ledger_entries, stats_deltas IN SHARE MODE;
  DELETE FROM stats_counters;
  DELETE FROM stats_deltas;
  INSERT INTO stats_counters (shard) SELECT generate_series(0, 31);
  UPDATE stats_counters SET
    users = (SELECT count(*) FROM users),
    (completed, failed, canceled, tokens, cost_usd) = (
      SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'failed'),
        count(*) FILTER (WHERE status NOT IN ('pending', 'processing', 'completed', 'failed')),
        coalesce(sum(tokens_used) FILTER (WHERE status = 'completed'), 0),
        coalesce(sum(cost_usd) FILTER (WHERE status = 'completed'), 0)
      FROM tasks),
    (income_usd, expense_usd) = (
      SELECT coalesce(sum(amount_usd) FILTER (WHERE kind = 'income' AND currency = 'usd'), 0),
        coalesce(sum(amount_usd) FILTER (WHERE kind <> 'income' AND currency = 'usd'), 0)
      FROM ledger_entries)
  WHERE shard = 0;
END $$;

--
-- Name: tasks_open_callback_delivery(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tasks_open_callback_delivery() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
  INSERT INTO callback_deliveries (task_id, message_id)
  VALUES (NEW.id, 'task_' || NEW.id || '_' || NEW.status)
  ON CONFLICT (task_id) DO NOTHING;
  RETURN NULL;
END $$;

--
-- Name: tasks_settle_hold(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.tasks_settle_hold() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
  charged numeric;
BEGIN
  IF NEW.status = 'completed' AND NEW.charged_usd IS NOT NULL THEN
    INSERT INTO credit_entries (user_id, source, source_key, amount, task_id, occurred_at)
    VALUES (NEW.user_id, 'task', NEW.id::text, -NEW.charged_usd, NEW.id, coalesce(NEW.completed_at, now()))
    ON CONFLICT (source, source_key) DO NOTHING
    RETURNING amount INTO charged;
  END IF;
  UPDATE credit_balances SET held = held - NEW.hold_usd, balance = balance + coalesce(charged, 0)
  WHERE user_id = NEW.user_id;
  RETURN NULL;
END $$;

--
-- Name: api_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.api_keys (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    key_hash text NOT NULL,
    prefix text NOT NULL,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp(3) with time zone,
    budget_usd numeric(24,12),
    budget_period public.key_budget_period,
    CONSTRAINT api_keys_budget_check CHECK ((((budget_usd IS NULL) = (budget_period IS NULL)) AND ((budget_usd IS NULL) OR (budget_usd > (0)::numeric))))
);

--
-- Name: api_keys_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.api_keys_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: api_keys_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.api_keys_id_seq OWNED BY public.api_keys.id;

--
-- Name: callback_attempts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.callback_attempts (
    task_id bigint NOT NULL,
    attempt integer NOT NULL,
    attempted_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    status_code smallint,
    error text,
    duration_ms integer
);

--
-- Name: callback_deliveries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.callback_deliveries (
    task_id bigint NOT NULL,
    message_id text NOT NULL,
    state public.callback_delivery_state DEFAULT 'pending'::public.callback_delivery_state NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    leased_until timestamp(3) with time zone,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    finished_at timestamp(3) with time zone
);

--
-- Name: credit_balances; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.credit_balances (
    user_id bigint NOT NULL,
    balance numeric(24,12) DEFAULT '0'::numeric NOT NULL,
    held numeric(24,12) DEFAULT '0'::numeric NOT NULL,
    CONSTRAINT credit_balances_held_check CHECK ((held >= (0)::numeric))
);

--
-- Name: credit_entries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.credit_entries (
    id bigint NOT NULL,
    user_id bigint NOT NULL,
    source public.credit_source NOT NULL,
    source_key text NOT NULL,
    amount numeric(24,12) NOT NULL,
    task_id bigint,
    reason text,
    occurred_at timestamp(3) with time zone NOT NULL,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL
);

--
-- Name: credit_entries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.credit_entries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: credit_entries_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.credit_entries_id_seq OWNED BY public.credit_entries.id;

--
-- Name: dashboard_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dashboard_sessions (
    token_digest bytea NOT NULL,
    admin_key_digest bytea NOT NULL,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    expires_at timestamp(3) with time zone NOT NULL
);

--
-- Name: idempotency_keys; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    state public.idempotency_state NOT NULL,
    claim uuid NOT NULL,
    status_code smallint,
    response_body text,
    response_headers jsonb,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    expires_at timestamp(3) with time zone NOT NULL,
    CONSTRAINT idempotency_keys_done_has_answer CHECK (((state = 'done'::public.idempotency_state) = ((status_code IS NOT NULL) AND (response_body IS NOT NULL))))
);

--
-- Name: ledger_entries; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.ledger_entries (
    id bigint NOT NULL,
    kind public.ledger_kind NOT NULL,
    category public.ledger_category NOT NULL,
    amount_usd numeric(24,12) NOT NULL,
    currency text DEFAULT 'usd'::text NOT NULL,
    original_amount numeric(24,12),
    original_currency text,
    stripe_balance_transaction_id text,
    occurred_at timestamp(3) with time zone NOT NULL,
    user_id bigint,
    task_id bigint,
    stripe_object_id text,
    stripe_charge_id text,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    run_id text,
    provider public.provider_name,
    model text,
    CONSTRAINT ledger_entries_api_cost_model_check CHECK (((category <> 'api_cost'::public.ledger_category) OR (task_id IS NULL) OR ((provider IS NOT NULL) AND (model IS NOT NULL))))
);

--
-- Name: ledger_entries_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.ledger_entries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: ledger_entries_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.ledger_entries_id_seq OWNED BY public.ledger_entries.id;

--
-- Name: report_dirty_days; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.report_dirty_days (
    day date NOT NULL
);

--
-- Name: report_rollup_state; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.report_rollup_state (
    id smallint DEFAULT 1 NOT NULL,
    last_started_at timestamp(3) with time zone NOT NULL,
    last_finished_at timestamp(3) with time zone NOT NULL
);

--
-- Name: report_rollups; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.report_rollups (
    period public.report_period NOT NULL,
    period_start date NOT NULL,
    kind public.ledger_kind NOT NULL,
    category public.ledger_category NOT NULL,
    currency text DEFAULT 'usd'::text NOT NULL,
    amount_usd numeric(24,12) NOT NULL,
    generated_at timestamp(3) with time zone NOT NULL
);

--
-- Name: stats_counters; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stats_counters (
    shard smallint NOT NULL,
    users bigint DEFAULT 0 NOT NULL,
    completed bigint DEFAULT 0 NOT NULL,
    failed bigint DEFAULT 0 NOT NULL,
    tokens bigint DEFAULT 0 NOT NULL,
    cost_usd numeric(30,12) DEFAULT '0'::numeric NOT NULL,
    income_usd numeric(30,12) DEFAULT '0'::numeric NOT NULL,
    expense_usd numeric(30,12) DEFAULT '0'::numeric NOT NULL,
    canceled bigint DEFAULT 0 NOT NULL
);

--
-- Name: stats_deltas; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stats_deltas (
    users bigint DEFAULT 0 NOT NULL,
    completed bigint DEFAULT 0 NOT NULL,
    failed bigint DEFAULT 0 NOT NULL,
    canceled bigint DEFAULT 0 NOT NULL,
    tokens bigint DEFAULT 0 NOT NULL,
    cost_usd numeric(30,12) DEFAULT '0'::numeric NOT NULL
);

--
-- Name: stripe_events; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stripe_events (
    id text NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamp(3) with time zone NOT NULL,
    problem text,
    processed_at timestamp(3) with time zone DEFAULT now() NOT NULL
);

--
-- Name: stripe_objects; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stripe_objects (
    kind text NOT NULL,
    id text NOT NULL,
    state jsonb NOT NULL,
    charge_id text,
    payment_intent_id text,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    updated_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    CONSTRAINT stripe_objects_kind_check CHECK ((kind = ANY (ARRAY['payment'::text, 'invoice'::text, 'invoice_payment'::text, 'refund'::text, 'dispute'::text, 'charge'::text])))
);

--
-- Name: subscriptions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.subscriptions (
    id text NOT NULL,
    user_id bigint,
    stripe_customer_id text,
    status text NOT NULL,
    price_id text,
    current_period_end timestamp(3) with time zone,
    cancel_at_period_end boolean DEFAULT false NOT NULL,
    state_at timestamp(3) with time zone NOT NULL,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    updated_at timestamp(3) with time zone DEFAULT now() NOT NULL
);

--
-- Name: tasks; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tasks (
    id bigint NOT NULL,
    status public.task_status DEFAULT 'pending'::public.task_status NOT NULL,
    provider public.provider_name NOT NULL,
    model text NOT NULL,
    input text NOT NULL,
    output text,
    prompt_tokens integer,
    completion_tokens integer,
    tokens_used integer,
    cost_usd numeric(20,12),
    user_id bigint,
    attempts integer DEFAULT 0 NOT NULL,
    lease_owner text,
    lease_expires_at timestamp(3) with time zone,
    error text,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    started_at timestamp(3) with time zone,
    completed_at timestamp(3) with time zone,
    updated_at timestamp(3) with time zone DEFAULT now() NOT NULL,
    cached_tokens integer,
    reasoning_tokens integer,
    max_output_tokens integer,
    price jsonb,
    hold_usd numeric(24,12),
    charged_usd numeric(24,12),
    priority smallint DEFAULT 5 NOT NULL,
    stream boolean DEFAULT false NOT NULL,
    callback_url text,
    api_key_id bigint,
    key_hold_usd numeric(24,12),
    key_spent_usd numeric(24,12)
);

--
-- Name: tasks_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.tasks_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: tasks_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.tasks_id_seq OWNED BY public.tasks.id;

--
-- Name: usage_rollups; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.usage_rollups (
    period public.report_period NOT NULL,
    period_start date NOT NULL,
    provider public.provider_name NOT NULL,
    model text NOT NULL,
    tasks integer NOT NULL,
    tokens bigint NOT NULL,
    api_cost_usd numeric(24,12) NOT NULL,
    charged_usd numeric(24,12) NOT NULL,
    generated_at timestamp(3) with time zone NOT NULL
);

--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    id bigint NOT NULL,
    identifier text NOT NULL,
    email text,
    stripe_customer_id text,
    created_at timestamp(3) with time zone DEFAULT now() NOT NULL
);

--
-- Name: users_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.users_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: users_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.users_id_seq OWNED BY public.users.id;

--
-- Name: api_keys id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys ALTER COLUMN id SET DEFAULT nextval('public.api_keys_id_seq'::regclass);

--
-- Name: credit_entries id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_entries ALTER COLUMN id SET DEFAULT nextval('public.credit_entries_id_seq'::regclass);

--
-- Name: ledger_entries id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries ALTER COLUMN id SET DEFAULT nextval('public.ledger_entries_id_seq'::regclass);

--
-- Name: tasks id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks ALTER COLUMN id SET DEFAULT nextval('public.tasks_id_seq'::regclass);

--
-- Name: users id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users ALTER COLUMN id SET DEFAULT nextval('public.users_id_seq'::regclass);

--
-- Name: api_keys api_keys_key_hash_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_key_hash_unique UNIQUE (key_hash);

--
-- Name: api_keys api_keys_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_pkey PRIMARY KEY (id);

--
-- Name: callback_attempts callback_attempts_task_id_attempt_pk; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.callback_attempts
    ADD CONSTRAINT callback_attempts_task_id_attempt_pk PRIMARY KEY (task_id, attempt);

--
-- Name: callback_deliveries callback_deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.callback_deliveries
    ADD CONSTRAINT callback_deliveries_pkey PRIMARY KEY (task_id);

--
-- Name: credit_balances credit_balances_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_balances
    ADD CONSTRAINT credit_balances_pkey PRIMARY KEY (user_id);

--
-- Name: credit_entries credit_entries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_entries
    ADD CONSTRAINT credit_entries_pkey PRIMARY KEY (id);

--
-- Name: credit_entries credit_entries_source_source_key_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_entries
    ADD CONSTRAINT credit_entries_source_source_key_key UNIQUE (source, source_key);

--
-- Name: dashboard_sessions dashboard_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dashboard_sessions
    ADD CONSTRAINT dashboard_sessions_pkey PRIMARY KEY (token_digest);

--
-- Name: idempotency_keys idempotency_keys_scope_key_pk; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_scope_key_pk PRIMARY KEY (scope, key);

--
-- Name: ledger_entries ledger_entries_category_stripe_object_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entries_category_stripe_object_id_key UNIQUE (category, stripe_object_id);

--
-- Name: ledger_entries ledger_entries_category_task_id_run_id_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entries_category_task_id_run_id_key UNIQUE (category, task_id, run_id);

--
-- Name: ledger_entries ledger_entries_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entries_pkey PRIMARY KEY (id);

--
-- Name: report_rollup_state report_rollup_state_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.report_rollup_state
    ADD CONSTRAINT report_rollup_state_pkey PRIMARY KEY (id);

--
-- Name: report_rollups report_rollups_period_period_start_kind_category_currency_pk; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.report_rollups
    ADD CONSTRAINT report_rollups_period_period_start_kind_category_currency_pk PRIMARY KEY (period, period_start, kind, category, currency);

--
-- Name: stats_counters stats_counters_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stats_counters
    ADD CONSTRAINT stats_counters_pkey PRIMARY KEY (shard);

--
-- Name: stripe_events stripe_events_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stripe_events
    ADD CONSTRAINT stripe_events_pkey PRIMARY KEY (id);

--
-- Name: stripe_objects stripe_objects_kind_id_pk; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stripe_objects
    ADD CONSTRAINT stripe_objects_kind_id_pk PRIMARY KEY (kind, id);

--
-- Name: subscriptions subscriptions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_pkey PRIMARY KEY (id);

--
-- Name: tasks tasks_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_pkey PRIMARY KEY (id);

--
-- Name: usage_rollups usage_rollups_period_period_start_provider_model_pk; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.usage_rollups
    ADD CONSTRAINT usage_rollups_period_period_start_provider_model_pk PRIMARY KEY (period, period_start, provider, model);

--
-- Name: users users_identifier_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_identifier_unique UNIQUE (identifier);

--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (id);

--
-- Name: users users_stripe_customer_id_unique; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_stripe_customer_id_unique UNIQUE (stripe_customer_id);

--
-- Name: api_keys_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX api_keys_user_id_idx ON public.api_keys USING btree (user_id) WHERE (revoked_at IS NULL);

--
-- Name: callback_deliveries_pending_next_attempt_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX callback_deliveries_pending_next_attempt_at_idx ON public.callback_deliveries USING btree (next_attempt_at) WHERE (state = 'pending'::public.callback_delivery_state);

--
-- Name: credit_entries_occurred_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX credit_entries_occurred_at_idx ON public.credit_entries USING btree (occurred_at);

--
-- Name: credit_entries_user_id_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX credit_entries_user_id_id_idx ON public.credit_entries USING btree (user_id, id);

--
-- Name: dashboard_sessions_expires_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX dashboard_sessions_expires_at_idx ON public.dashboard_sessions USING btree (expires_at);

--
-- Name: idempotency_keys_expires_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idempotency_keys_expires_at_idx ON public.idempotency_keys USING btree (expires_at);

--
-- Name: ledger_entries_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ledger_entries_created_at_idx ON public.ledger_entries USING btree (created_at);

--
-- Name: ledger_entries_occurred_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ledger_entries_occurred_at_idx ON public.ledger_entries USING btree (occurred_at);

--
-- Name: ledger_entries_stripe_charge_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX ledger_entries_stripe_charge_id_idx ON public.ledger_entries USING btree (stripe_charge_id);

--
-- Name: stripe_objects_charge_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX stripe_objects_charge_id_idx ON public.stripe_objects USING btree (charge_id);

--
-- Name: stripe_objects_payment_intent_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX stripe_objects_payment_intent_id_idx ON public.stripe_objects USING btree (payment_intent_id);

--
-- Name: subscriptions_active_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX subscriptions_active_idx ON public.subscriptions USING btree (id) WHERE (status = ANY (ARRAY['active'::text, 'trialing'::text]));

--
-- Name: subscriptions_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX subscriptions_user_id_idx ON public.subscriptions USING btree (user_id);

--
-- Name: tasks_api_key_id_created_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_api_key_id_created_at_idx ON public.tasks USING btree (api_key_id, created_at) WHERE (api_key_id IS NOT NULL);

--
-- Name: tasks_completed_at_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_completed_at_idx ON public.tasks USING btree (completed_at) WHERE (status = 'completed'::public.task_status);

--
-- Name: tasks_created_at_brin_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_created_at_brin_idx ON public.tasks USING brin (created_at);

--
-- Name: tasks_unfinished_status_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_unfinished_status_id_idx ON public.tasks USING btree (status, id) WHERE (status = ANY (ARRAY['pending'::public.task_status, 'processing'::public.task_status]));

--
-- Name: tasks_unfinished_user_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_unfinished_user_id_idx ON public.tasks USING btree (user_id) WHERE ((status = ANY (ARRAY['pending'::public.task_status, 'processing'::public.task_status])) AND (user_id IS NOT NULL));

--
-- Name: tasks_unsuccessful_status_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_unsuccessful_status_id_idx ON public.tasks USING btree (status, id) WHERE (status <> ALL (ARRAY['pending'::public.task_status, 'processing'::public.task_status, 'completed'::public.task_status]));

--
-- Name: tasks_user_id_id_idx; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX tasks_user_id_id_idx ON public.tasks USING btree (user_id, id) WHERE (user_id IS NOT NULL);

--
-- Name: tasks count_finished_tasks_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_finished_tasks_deleted AFTER DELETE ON public.tasks FOR EACH ROW WHEN ((old.status <> ALL (ARRAY['pending'::public.task_status, 'processing'::public.task_status]))) EXECUTE FUNCTION public.count_finished_tasks();

--
-- Name: tasks count_finished_tasks_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_finished_tasks_inserted AFTER INSERT ON public.tasks FOR EACH ROW WHEN ((new.status <> ALL (ARRAY['pending'::public.task_status, 'processing'::public.task_status]))) EXECUTE FUNCTION public.count_finished_tasks();

--
-- Name: tasks count_finished_tasks_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_finished_tasks_updated AFTER UPDATE ON public.tasks FOR EACH ROW WHEN ((((old.status <> ALL (ARRAY['pending'::public.task_status, 'processing'::public.task_status])) OR (new.status <> ALL (ARRAY['pending'::public.task_status, 'processing'::public.task_status]))) AND (((old.status IS DISTINCT FROM new.status) OR (old.tokens_used IS DISTINCT FROM new.tokens_used)) OR (old.cost_usd IS DISTINCT FROM new.cost_usd)))) EXECUTE FUNCTION public.count_finished_tasks();

--
-- Name: ledger_entries count_ledger_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_ledger_deleted AFTER DELETE ON public.ledger_entries REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_ledger();

--
-- Name: ledger_entries count_ledger_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_ledger_inserted AFTER INSERT ON public.ledger_entries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_ledger();

--
-- Name: ledger_entries count_ledger_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_ledger_updated AFTER UPDATE ON public.ledger_entries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.count_ledger();

--
-- Name: users count_users; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER count_users AFTER INSERT OR DELETE ON public.users FOR EACH ROW EXECUTE FUNCTION public.count_users();

--
-- Name: credit_entries credit_entries_append_only; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER credit_entries_append_only BEFORE DELETE OR UPDATE ON public.credit_entries FOR EACH ROW EXECUTE FUNCTION public.credit_entries_append_only();

--
-- Name: credit_entries credit_entries_move_balance; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER credit_entries_move_balance AFTER INSERT ON public.credit_entries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.credit_entries_move_balance();

--
-- Name: ledger_entries ledger_entries_copy_task_model; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ledger_entries_copy_task_model BEFORE INSERT ON public.ledger_entries FOR EACH ROW WHEN (((new.category = 'api_cost'::public.ledger_category) AND (new.task_id IS NOT NULL) AND ((new.provider IS NULL) OR (new.model IS NULL)))) EXECUTE FUNCTION public.ledger_entries_copy_task_model();

--
-- Name: ledger_entries mark_report_days_dirty_deleted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER mark_report_days_dirty_deleted AFTER DELETE ON public.ledger_entries REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION public.mark_report_days_dirty();

--
-- Name: ledger_entries mark_report_days_dirty_inserted; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER mark_report_days_dirty_inserted AFTER INSERT ON public.ledger_entries REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.mark_report_days_dirty();

--
-- Name: ledger_entries mark_report_days_dirty_updated; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER mark_report_days_dirty_updated AFTER UPDATE ON public.ledger_entries REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION public.mark_report_days_dirty();

--
-- Name: tasks tasks_open_callback_delivery; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_open_callback_delivery AFTER UPDATE OF status ON public.tasks FOR EACH ROW WHEN (((old.status = ANY (ARRAY['pending'::public.task_status, 'processing'::public.task_status])) AND (new.status <> ALL (ARRAY['pending'::public.task_status, 'processing'::public.task_status])) AND (new.callback_url IS NOT NULL))) EXECUTE FUNCTION public.tasks_open_callback_delivery();

--
-- Name: tasks tasks_settle_hold; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER tasks_settle_hold AFTER UPDATE OF status ON public.tasks FOR EACH ROW WHEN (((old.status = ANY (ARRAY['pending'::public.task_status, 'processing'::public.task_status])) AND (new.status <> ALL (ARRAY['pending'::public.task_status, 'processing'::public.task_status])) AND (new.hold_usd IS NOT NULL) AND (new.user_id IS NOT NULL))) EXECUTE FUNCTION public.tasks_settle_hold();

--
-- Name: api_keys api_keys_user_id_users_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.api_keys
    ADD CONSTRAINT api_keys_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: callback_attempts callback_attempts_task_id_callback_deliveries_task_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.callback_attempts
    ADD CONSTRAINT callback_attempts_task_id_callback_deliveries_task_id_fk FOREIGN KEY (task_id) REFERENCES public.callback_deliveries(task_id) ON DELETE CASCADE;

--
-- Name: callback_deliveries callback_deliveries_task_id_tasks_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.callback_deliveries
    ADD CONSTRAINT callback_deliveries_task_id_tasks_id_fk FOREIGN KEY (task_id) REFERENCES public.tasks(id) ON DELETE CASCADE;

--
-- Name: credit_balances credit_balances_user_id_users_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_balances
    ADD CONSTRAINT credit_balances_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: credit_entries credit_entries_task_id_tasks_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_entries
    ADD CONSTRAINT credit_entries_task_id_tasks_id_fk FOREIGN KEY (task_id) REFERENCES public.tasks(id);

--
-- Name: credit_entries credit_entries_user_id_users_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.credit_entries
    ADD CONSTRAINT credit_entries_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: ledger_entries ledger_entries_task_id_tasks_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entries_task_id_tasks_id_fk FOREIGN KEY (task_id) REFERENCES public.tasks(id);

--
-- Name: ledger_entries ledger_entries_user_id_users_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.ledger_entries
    ADD CONSTRAINT ledger_entries_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: subscriptions subscriptions_user_id_users_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.subscriptions
    ADD CONSTRAINT subscriptions_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- Name: tasks tasks_api_key_id_api_keys_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_api_key_id_api_keys_id_fk FOREIGN KEY (api_key_id) REFERENCES public.api_keys(id);

--
-- Name: tasks tasks_user_id_users_id_fk; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tasks
    ADD CONSTRAINT tasks_user_id_users_id_fk FOREIGN KEY (user_id) REFERENCES public.users(id);

--
-- PostgreSQL database dump complete
--
