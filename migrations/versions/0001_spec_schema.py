"""The spec's schema: enum types, seven tables, keys, checks and indexes.

Transcribed from spec/crm-schema.md, reviewed by hand. Where the spec writes a
constraint twice (inline in CREATE TABLE and again by name in "Constraints" or
"Foreign Key Constraints"), only the named one is created, so each rule exists
once under the spec's name:

- foreign keys: fk_customers_owner, fk_leads_*, fk_tasks_*, fk_interactions_*;
  audit_logs.user_id has no name in the spec and gets fk_audit_logs_user;
- checks: chk_leads_probability, chk_leads_amount, chk_interactions_duration,
  chk_customers_email (chk_customers_industry is the spec's example migration, 0002);
- unique: uk_users_email, uk_customers_name_company.

idx_customers_search is defined twice in the spec; the later, fuller definition
(name, company and email) is the one created.

idx_leads_active hard-codes the closed stages as ids 6 and 7, as the spec does.
Migration 0003 keeps that predicate equal to the real ids of "Closed Won" and
"Closed Lost" whenever lead_stages changes, so it stays right if the ids differ.

Revision ID: 0001_spec_schema
Revises:
Create Date: 2026-11-25
"""

from alembic import op

revision = "0001_spec_schema"
down_revision = None
branch_labels = None
depends_on = None

TYPES = """
CREATE TYPE user_role AS ENUM ('user', 'manager', 'admin');
CREATE TYPE task_status AS ENUM ('pending', 'in_progress', 'completed', 'cancelled');
-- Deprecated by the spec (stages live in lead_stages), created because the spec does.
CREATE TYPE lead_status AS ENUM ('new', 'contacted', 'qualified', 'proposal',
                                 'negotiation', 'closed_won', 'closed_lost');
CREATE TYPE interaction_type AS ENUM ('call', 'email', 'meeting', 'note');
"""

TABLES = """
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    email VARCHAR(255) NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL,
    role user_role DEFAULT 'user',
    is_active BOOLEAN DEFAULT true,
    last_login TIMESTAMP,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT uk_users_email UNIQUE (email)
);

CREATE TABLE customers (
    id SERIAL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    email VARCHAR(255),
    phone VARCHAR(50),
    company VARCHAR(255),
    industry VARCHAR(100),
    website VARCHAR(255),
    address TEXT,
    city VARCHAR(100),
    state VARCHAR(100),
    country VARCHAR(100),
    postal_code VARCHAR(20),
    owner_id INTEGER,
    status VARCHAR(50) DEFAULT 'active',
    notes TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_customers_owner
        FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL,
    CONSTRAINT chk_customers_email
        CHECK (email IS NULL OR email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}$'),
    CONSTRAINT uk_customers_name_company UNIQUE (name, company)
);

CREATE TABLE lead_stages (
    id SERIAL PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    description TEXT,
    order_index INTEGER DEFAULT 0,
    is_active BOOLEAN DEFAULT true,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE leads (
    id SERIAL PRIMARY KEY,
    title VARCHAR(255) NOT NULL,
    description TEXT,
    amount DECIMAL(15,2),
    currency VARCHAR(3) DEFAULT 'USD',
    customer_id INTEGER,
    stage_id INTEGER,
    owner_id INTEGER,
    source VARCHAR(100),
    probability INTEGER,
    expected_close_date DATE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_leads_customer
        FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE,
    CONSTRAINT fk_leads_stage
        FOREIGN KEY (stage_id) REFERENCES lead_stages(id) ON DELETE SET NULL,
    CONSTRAINT fk_leads_owner
        FOREIGN KEY (owner_id) REFERENCES users(id) ON DELETE SET NULL,
    CONSTRAINT chk_leads_probability CHECK (probability >= 0 AND probability <= 100),
    CONSTRAINT chk_leads_amount CHECK (amount IS NULL OR amount > 0)
);

CREATE TABLE tasks (
    id SERIAL PRIMARY KEY,
    title VARCHAR(255) NOT NULL,
    description TEXT,
    status task_status DEFAULT 'pending',
    priority VARCHAR(20) DEFAULT 'medium',
    due_date TIMESTAMP,
    completed_at TIMESTAMP,
    user_id INTEGER,
    customer_id INTEGER,
    lead_id INTEGER,
    assigned_to INTEGER,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_tasks_user
        FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
    CONSTRAINT fk_tasks_customer
        FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE SET NULL,
    CONSTRAINT fk_tasks_lead
        FOREIGN KEY (lead_id) REFERENCES leads(id) ON DELETE SET NULL,
    CONSTRAINT fk_tasks_assigned
        FOREIGN KEY (assigned_to) REFERENCES users(id) ON DELETE SET NULL
);

CREATE TABLE interactions (
    id SERIAL PRIMARY KEY,
    type interaction_type NOT NULL,
    subject VARCHAR(255),
    description TEXT,
    customer_id INTEGER,
    lead_id INTEGER,
    user_id INTEGER,
    interaction_date TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    duration_minutes INTEGER,
    outcome TEXT,
    follow_up_date DATE,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_interactions_customer
        FOREIGN KEY (customer_id) REFERENCES customers(id) ON DELETE CASCADE,
    CONSTRAINT fk_interactions_lead
        FOREIGN KEY (lead_id) REFERENCES leads(id) ON DELETE SET NULL,
    CONSTRAINT fk_interactions_user
        FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE,
    CONSTRAINT chk_interactions_duration
        CHECK (duration_minutes IS NULL OR duration_minutes > 0)
);

CREATE TABLE audit_logs (
    id SERIAL PRIMARY KEY,
    table_name VARCHAR(100) NOT NULL,
    record_id INTEGER NOT NULL,
    action VARCHAR(20) NOT NULL,
    old_values JSONB,
    new_values JSONB,
    user_id INTEGER,
    ip_address INET,
    user_agent TEXT,
    created_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_audit_logs_user
        FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE SET NULL
);
"""

INDEXES = """
CREATE INDEX idx_users_email ON users(email);
CREATE INDEX idx_users_role ON users(role);
CREATE INDEX idx_users_active ON users(is_active);
CREATE INDEX idx_users_created_at ON users(created_at);

CREATE INDEX idx_customers_owner_id ON customers(owner_id);
CREATE INDEX idx_customers_status ON customers(status);
CREATE INDEX idx_customers_industry ON customers(industry);
CREATE INDEX idx_customers_created_at ON customers(created_at);
CREATE INDEX idx_customers_company ON customers(company);

CREATE INDEX idx_leads_customer_id ON leads(customer_id);
CREATE INDEX idx_leads_stage_id ON leads(stage_id);
CREATE INDEX idx_leads_owner_id ON leads(owner_id);
CREATE INDEX idx_leads_expected_close_date ON leads(expected_close_date);
CREATE INDEX idx_leads_source ON leads(source);
CREATE INDEX idx_leads_amount ON leads(amount);
CREATE INDEX idx_leads_created_at ON leads(created_at);

CREATE INDEX idx_tasks_user_id ON tasks(user_id);
CREATE INDEX idx_tasks_status ON tasks(status);
CREATE INDEX idx_tasks_due_date ON tasks(due_date);
CREATE INDEX idx_tasks_customer_id ON tasks(customer_id);
CREATE INDEX idx_tasks_lead_id ON tasks(lead_id);
CREATE INDEX idx_tasks_assigned_to ON tasks(assigned_to);
CREATE INDEX idx_tasks_priority ON tasks(priority);

CREATE INDEX idx_interactions_customer_id ON interactions(customer_id);
CREATE INDEX idx_interactions_user_id ON interactions(user_id);
CREATE INDEX idx_interactions_interaction_date ON interactions(interaction_date);
CREATE INDEX idx_interactions_type ON interactions(type);
CREATE INDEX idx_interactions_lead_id ON interactions(lead_id);

CREATE INDEX idx_audit_logs_table_record ON audit_logs(table_name, record_id);
CREATE INDEX idx_audit_logs_created_at ON audit_logs(created_at);
CREATE INDEX idx_audit_logs_user_id ON audit_logs(user_id);
CREATE INDEX idx_audit_logs_action ON audit_logs(action);

-- Composite indexes for common queries
CREATE INDEX idx_customers_owner_status ON customers(owner_id, status);
CREATE INDEX idx_leads_owner_stage ON leads(owner_id, stage_id);
CREATE INDEX idx_tasks_user_status ON tasks(user_id, status);
CREATE INDEX idx_interactions_customer_date ON interactions(customer_id, interaction_date);
CREATE INDEX idx_leads_customer_stage ON leads(customer_id, stage_id);

-- Partial indexes for active data
CREATE INDEX idx_customers_active ON customers(owner_id, status) WHERE status = 'active';
CREATE INDEX idx_tasks_pending ON tasks(user_id, due_date) WHERE status = 'pending';
-- 6 and 7 are the spec's ids for Closed Won / Closed Lost; 0003 keeps them true.
CREATE INDEX idx_leads_active ON leads(owner_id, stage_id) WHERE stage_id NOT IN (6, 7);

-- Full-text search indexes
CREATE INDEX idx_customers_search ON customers
    USING gin(to_tsvector('english', name || ' ' || COALESCE(company, '') || ' ' || COALESCE(email, '')));
CREATE INDEX idx_leads_search ON leads
    USING gin(to_tsvector('english', title || ' ' || COALESCE(description, '')));
CREATE INDEX idx_tasks_search ON tasks
    USING gin(to_tsvector('english', title || ' ' || COALESCE(description, '')));
"""


def upgrade() -> None:
    op.execute(TYPES)
    op.execute(TABLES)
    op.execute(INDEXES)


def downgrade() -> None:
    # Dropping a table drops its indexes and constraints; children first.
    op.execute("DROP TABLE audit_logs, interactions, tasks, leads, lead_stages, customers, users")
    op.execute("DROP TYPE interaction_type, lead_status, task_status, user_role")
