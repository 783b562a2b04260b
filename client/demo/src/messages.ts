import type { Messages } from '@omnisales/rtcollab-client/ui';

/** The demo's own strings (the order form); the realtime.* strings come with the UI package. */
export const demoMessages: { en: Messages; th: Messages } = {
  en: {
    demo: {
      title: 'Order editor',
      signInAs: 'Open the order as',
      customer: 'Customer',
      email: 'Email',
      status: 'Status',
      shipping: 'Shipping address',
      notes: 'Notes',
      items: 'Items',
      product: 'Product',
      quantity: 'Qty',
      price: 'Unit price',
      itemField: '{{item}}: {{field}}',
      total: 'Total',
      statuses: { pending: 'Pending', confirmed: 'Confirmed', shipped: 'Shipped', delivered: 'Delivered', cancelled: 'Cancelled' },
      language: 'ภาษาไทย',
      orderUpdates: {
        title: 'Order updates',
        empty: 'No order updates yet',
        recoveryFailed: 'Some updates could not be recovered after reconnecting; reload to see the current state.',
      },
    },
  },
  th: {
    demo: {
      title: 'แก้ไขคำสั่งซื้อ',
      signInAs: 'เปิดคำสั่งซื้อในชื่อ',
      customer: 'ลูกค้า',
      email: 'อีเมล',
      status: 'สถานะ',
      shipping: 'ที่อยู่จัดส่ง',
      notes: 'หมายเหตุ',
      items: 'รายการสินค้า',
      product: 'สินค้า',
      quantity: 'จำนวน',
      price: 'ราคาต่อหน่วย',
      itemField: '{{item}}: {{field}}',
      total: 'รวม',
      statuses: { pending: 'รอดำเนินการ', confirmed: 'ยืนยันแล้ว', shipped: 'จัดส่งแล้ว', delivered: 'ส่งถึงแล้ว', cancelled: 'ยกเลิก' },
      language: 'English',
      orderUpdates: {
        title: 'อัปเดตคำสั่งซื้อ',
        empty: 'ยังไม่มีอัปเดตคำสั่งซื้อ',
        recoveryFailed: 'กู้คืนอัปเดตบางรายการหลังเชื่อมต่อใหม่ไม่ได้ โหลดหน้าใหม่เพื่อดูสถานะล่าสุด',
      },
    },
  },
};
