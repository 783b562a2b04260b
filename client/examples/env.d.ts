// The seed's examples read their URL from a Next.js public variable.
declare const process: { env: Record<string, string | undefined> };
