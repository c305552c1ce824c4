// Keycloak's account console draws its phone-width menu button (a "kebab") without a name, which a
// screen reader announces as just "button" (axe-core: button-name, critical). Name it, in the page's
// language, whenever the console draws it.
const label = document.documentElement.lang.startsWith("en") ? "More options" : "Tùy chọn khác";
const nameMenus = () => {
  for (const button of document.querySelectorAll('[data-testid="options-kebab-toggle"]:not([aria-label])')) {
    button.setAttribute("aria-label", label);
  }
};
new MutationObserver(nameMenus).observe(document.documentElement, { subtree: true, childList: true });
nameMenus();
