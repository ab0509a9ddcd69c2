"""a heartbeat per serving process instead of one per connection

Each sweep pass rewrote every connection row of its process (2,200 rows a pass for a district's
phones and doctors); now it refreshes one row in presence_servers, and a connection is alive while
its server's row is fresh.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('presence_servers',
    sa.Column('server_id', sa.String(length=64), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('server_id')
    )


def downgrade():
    op.drop_table('presence_servers')
