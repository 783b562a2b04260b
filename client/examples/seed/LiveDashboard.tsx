'use client';

import { useState, useEffect } from 'react';
import { useWebSocket } from '@/lib/hooks/useWebSocket';
import { ActivityFeed, PresenceIndicator, type ActivityLog } from '@omnisales/rtcollab-client/ui';
import { usePresence } from '@/lib/hooks/usePresence';

export default function LiveDashboard({ userId, username }: { userId: string; username: string }) {
  const [activities, setActivities] = useState<ActivityLog[]>([]);

  const ws = useWebSocket({
    url: process.env.NEXT_PUBLIC_WS_URL || 'ws://localhost:3001/ws',
    autoConnect: true,
  });

  const presence = usePresence({
    wsClient: ws,
    userId,
    username,
    initialPage: 'dashboard',
  });

  // Subscribe to activity feed
  useEffect(() => {
    if (ws.connected) {
      ws.subscribe('activity-feed');
    }

    const unsubscribe = ws.on('message', (message) => {
      if (message.type === 'activity') {
        // The one change to the seed's text: payloads are `unknown` until narrowed.
        setActivities((prev) => [message.payload as ActivityLog, ...prev].slice(0, 100));
      }
    });

    return () => {
      unsubscribe();
      ws.unsubscribe('activity-feed');
    };
  }, [ws.connected]);

  return (
    <div className="grid grid-cols-3 gap-4">
      <div className="col-span-2">
        <ActivityFeed
          activities={activities}
          maxItems={50}
          showFilters={true}
          showDetails={true}
        />
      </div>
      <div>
        <PresenceIndicator
          users={presence.activeUsers}
          currentUserId={userId}
          showLocation={true}
          showActivity={true}
        />
      </div>
    </div>
  );
}
