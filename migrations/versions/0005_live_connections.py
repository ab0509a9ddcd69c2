"""live connections of every user, with their login; index for the median time to accept

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('presence_connections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('login_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_presence_connections_login_id'), ['login_id'], unique=False)
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.create_index('ix_consultations_priority_accepted', ['effective_priority', 'accepted_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('consultations', schema=None) as batch_op:
        batch_op.drop_index('ix_consultations_priority_accepted')
    with op.batch_alter_table('presence_connections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_presence_connections_login_id'))
        batch_op.drop_column('login_id')
