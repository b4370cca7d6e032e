"""The first release's schema (commit 5cbaaae, core/models.py), as it created it.

Every table of that release, written out rather than taken from the models: later revisions change the
models, never this file. UTC timestamps are plain DateTime columns (the models' UTCDateTime stores naive UTC).
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('apis',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('api_key', sa.String(length=100), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('openapi_spec', sa.Text(), nullable=True),
        sa.Column('openapi_uploaded_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('api_key'),
        sa.UniqueConstraint('name'),
    )
    op.create_table('customers',
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('display_name', sa.String(length=255), nullable=True),
        sa.Column('attributes', sa.JSON(), nullable=True),
        sa.Column('attributes_updated_at', sa.DateTime(), nullable=True),
        sa.Column('description', sa.Text(), nullable=True),
        sa.Column('description_updated_by', sa.String(length=255), nullable=True),
        sa.Column('description_updated_at', sa.DateTime(), nullable=True),
        sa.Column('first_seen', sa.DateTime(), nullable=True),
        sa.Column('last_seen', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('customer_id'),
    )
    op.create_table('invitations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('purpose', sa.String(length=16), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=True),
        sa.Column('group_name', sa.String(length=200), nullable=True),
        sa.Column('invited_by', sa.String(length=320), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.Column('used_at', sa.DateTime(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_table('rejected_payloads',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_id', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=255), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('raw', sa.Text(), nullable=False),
        sa.Column('raw_size', sa.BigInteger(), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_rejected_payloads_received_at', 'rejected_payloads', ['received_at'], unique=False)
    op.create_table('settings',
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table('users',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=320), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('password_hash', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=True),
        sa.Column('group_name', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_login_at', sa.DateTime(), nullable=True),
        sa.Column('failed_logins', sa.Integer(), nullable=False),
        sa.Column('locked_until', sa.DateTime(), nullable=True),
        sa.Column('valid_after', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('email'),
    )
    op.create_table('customer_apis',
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('api_id', sa.Integer(), nullable=False),
        sa.Column('first_seen', sa.DateTime(), nullable=False),
        sa.Column('last_seen', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['api_id'], ['apis.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('customer_id', 'api_id'),
    )
    op.create_table('dashboard_prefs',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=100), nullable=False),
        sa.Column('value', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'key'),
    )
    op.create_table('favorites',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'customer_id'),
    )
    op.create_table('requests',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('api_id', sa.Integer(), nullable=False),
        sa.Column('customer_id', sa.String(length=255), nullable=True),
        sa.Column('timestamp', sa.DateTime(), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('endpoint', sa.String(length=512), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('status', sa.Integer(), nullable=False),
        sa.Column('load_time_ms', sa.Float(), nullable=False),
        sa.Column('response_size', sa.BigInteger(), nullable=False),
        sa.Column('ip', sa.String(length=64), nullable=True),
        sa.Column('country', sa.String(length=2), nullable=True),
        sa.Column('user_agent', sa.Text(), nullable=True),
        sa.Column('device', sa.String(length=32), nullable=False),
        sa.Column('ai_agent', sa.String(length=64), nullable=True),
        sa.Column('threat_level', sa.String(length=8), nullable=False),
        sa.Column('received_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['api_id'], ['apis.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_requests_api_endpoint', 'requests', ['api_id', 'endpoint', 'method', 'id'], unique=False)
    op.create_index('ix_requests_api_ts', 'requests', ['api_id', 'timestamp'], unique=False)
    op.create_index('ix_requests_customer_ts', 'requests', ['customer_id', 'timestamp'], unique=False)
    op.create_table('sdk_tokens',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('api_id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('revoked_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['api_id'], ['apis.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )
    op.create_index('ix_sdk_tokens_api_id', 'sdk_tokens', ['api_id'], unique=False)
    op.create_table('request_details',
        sa.Column('request_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('sdk', sa.String(length=64), nullable=True),
        sa.Column('sdk_version', sa.String(length=32), nullable=True),
        sa.Column('request_headers', sa.JSON(), nullable=True),
        sa.Column('request_body', sa.JSON(), nullable=True),
        sa.Column('query', sa.JSON(), nullable=True),
        sa.Column('response_headers', sa.JSON(), nullable=True),
        sa.Column('response_body', sa.JSON(), nullable=True),
        sa.Column('errors', sa.JSON(), nullable=True),
        sa.Column('server', sa.JSON(), nullable=True),
        sa.Column('metadata_error', sa.Text(), nullable=True),
        sa.Column('threat_reasons', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['request_id'], ['requests.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('request_id'),
    )


def downgrade() -> None:
    raise RuntimeError("Schema downgrades are not supported by design: restore a backup instead.")
