# chatData?afterTimestamp= reads what is newer off (chat_id, created_at) instead of the whole chat.

import django.db.models.deletion
from django.db import migrations, models

from uai_project.sql import concurrent_index


class Migration(migrations.Migration):
    # Built CONCURRENTLY, without locking out writes: these tables grow with every turn. A build
    # that was interrupted leaves an invalid index of that name, dropped before building again.
    # Stats' own chat_id index goes only once the new one (which starts with chat_id) is built,
    # and without touching the foreign key (an AlterField would drop and re-validate it,
    # locking chats_chat against every turn meanwhile).
    atomic = False

    dependencies = [
        ('chats', '0004_chatdata_created_indexes'),
        ('runs', '0002_drop_redundant_fk_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name='log',
                    index=models.Index(fields=['chat', 'created_at'], name='log_chat_created'),
                ),
                migrations.AddIndex(
                    model_name='stat',
                    index=models.Index(fields=['chat', 'created_at'], name='stat_chat_created'),
                ),
                migrations.AlterField(
                    model_name='stat',
                    name='chat',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='stats', to='chats.chat'),
                ),
            ],
            database_operations=[
                concurrent_index('runs_log', 'log_chat_created', '"chat_id", "created_at"'),
                concurrent_index('runs_stat', 'stat_chat_created', '"chat_id", "created_at"'),
                migrations.RunSQL(
                    'DROP INDEX CONCURRENTLY IF EXISTS "runs_stat_chat_id_f2e3dda9"',
                    reverse_sql='CREATE INDEX CONCURRENTLY IF NOT EXISTS "runs_stat_chat_id_f2e3dda9" ON "runs_stat" ("chat_id")',
                ),
            ],
        ),
    ]
