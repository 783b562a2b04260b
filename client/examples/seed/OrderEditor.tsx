'use client';

import { useEffect } from 'react';
import { useWebSocket } from '@/lib/hooks/useWebSocket';
import { useRealtimeSync } from '@/lib/hooks/useRealtimeSync';
import { usePresence } from '@/lib/hooks/usePresence';
import { CollaborationPanel } from '@omnisales/rtcollab-client/ui';

export default function OrderEditor({ orderId, userId, username }: { orderId: string; userId: string; username: string }) {
  // Setup WebSocket connection
  const ws = useWebSocket({
    url: process.env.NEXT_PUBLIC_WS_URL || 'ws://localhost:3001/ws',
    autoConnect: true,
    debug: process.env.NODE_ENV === 'development',
  });

  // Setup real-time sync
  const sync = useRealtimeSync({
    wsClient: ws,
    userId,
    username,
    entityType: 'order',
    entityId: orderId,
    conflictStrategy: 'lock-based',
    autoResolveConflicts: false,
  });

  // Setup presence tracking
  const presence = usePresence({
    wsClient: ws,
    userId,
    username,
    initialPage: 'orders',
    initialSection: `order-${orderId}`,
  });

  // Start syncing when connected
  useEffect(() => {
    if (ws.connected) {
      sync.startSync();
      presence.setActivity(`Editing order #${orderId}`);
    }

    return () => {
      sync.stopSync();
      if (sync.lockedByMe) {
        sync.releaseLock();
      }
    };
  }, [ws.connected, orderId]);

  // Handle field changes
  const handleFieldChange = async (field: string, value: any, oldValue: any) => {
    if (!sync.lockedByMe) {
      // Acquire lock first
      const lock = await sync.acquireLock();
      if (!lock) {
        alert('This order is being edited by another user');
        return;
      }
    }

    // Push change
    await sync.pushChange({
      entityId: orderId,
      entityType: 'order',
      operation: 'update',
      path: field,
      before: oldValue,
      after: value,
    });
  };

  return (
    <div className="flex gap-4">
      {/* Main editor */}
      <div className="flex-1">
        <h1>Order #{orderId}</h1>
        {/* Order form fields with onChange handlers */}
        <input
          aria-label="Notes"
          defaultValue=""
          onBlur={(e) => void handleFieldChange('notes', e.target.value, sync.document['notes'])}
        />
        {sync.isLocked && !sync.lockedByMe && (
          <div className="alert alert-warning">
            This order is locked by {sync.lock?.lockedByName}
          </div>
        )}
      </div>

      {/* Collaboration panel */}
      <div className="w-96">
        <CollaborationPanel
          activeUsers={presence.activeUsers}
          currentUserId={userId}
          lock={sync.lock}
          isLocked={sync.isLocked}
          lockedByMe={sync.lockedByMe}
          onAcquireLock={sync.acquireLock}
          onReleaseLock={sync.releaseLock}
          changeHistory={sync.changeHistory}
          conflicts={sync.conflicts}
          onResolveConflict={sync.resolveConflict}
          onUndoChange={sync.undoChange}
        />
      </div>
    </div>
  );
}
