# chatData?afterTimestamp= reads what is newer off (chat_id, created_at) instead of the whole chat.

from django.db import migrations, models

from uai_project.sql import concurrent_index


class Migration(migrations.Migration):
    # Built CONCURRENTLY, without locking out writes: the table grows with every turn. A build
    # that was interrupted leaves an invalid index of that name, dropped before building again.
    atomic = False

    dependencies = [
        ('chats', '0003_drop_redundant_fk_indexes'),
        ('runs', '0002_drop_redundant_fk_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name='message',
                    index=models.Index(fields=['chat', 'created_at'], name='message_chat_created'),
                ),
            ],
            database_operations=[
                concurrent_index('chats_message', 'message_chat_created', '"chat_id", "created_at"'),
            ],
        ),
    ]
