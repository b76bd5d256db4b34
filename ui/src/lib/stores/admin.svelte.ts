// Whether the team settings (lanes and members, admins only) are open.

export class AdminStore {
  open = $state(false);
}

export const admin = new AdminStore();
