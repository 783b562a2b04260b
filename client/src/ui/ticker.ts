import { useEffect, useState } from 'react';

/** Re-renders every `ms` so that relative times move on (the times themselves come from the i18n clock). */
export function useTicker(ms: number): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const id = setInterval(() => setTick((n) => n + 1), ms);
    return () => clearInterval(id);
  }, [ms]);
}
