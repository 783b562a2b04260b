'use client';

import { useWebSocket } from '@/lib/hooks/useWebSocket';
import { useRoomPresence } from '@/lib/hooks/usePresence';
import { PresenceIndicator } from '@omnisales/rtcollab-client/ui';

export default function ProductPage({ productId, userId, username }: { productId: string; userId: string; username: string }) {
  const ws = useWebSocket({
    url: process.env.NEXT_PUBLIC_WS_URL || 'ws://localhost:3001/ws',
  });

  const { usersInRoom, userCount } = useRoomPresence(
    ws,
    userId,
    username,
    `product-${productId}`
  );

  return (
    <div>
      <div className="flex items-center gap-2">
        <h1>Product Details</h1>
        <PresenceIndicator users={usersInRoom} compact />
        <span className="text-sm text-gray-600">
          {userCount} {userCount === 1 ? 'person' : 'people'} viewing
        </span>
      </div>
      {/* Product content */}
    </div>
  );
}
