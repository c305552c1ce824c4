<#macro content>
<div id="edu-help-desk" class="edu-help-desk">
  <p class="edu-help-desk__title">${msg("eduHelpDeskTitle")}</p>
  <p class="edu-help-desk__text">${msg("eduHelpDeskText")}</p>
  <p class="edu-help-desk__contact">
    <a href="tel:${msg("eduHelpDeskPhoneDial")}">${msg("eduHelpDeskPhone")}</a>
    <span aria-hidden="true"> · </span>
    <a href="mailto:${msg("eduHelpDeskEmail")}">${msg("eduHelpDeskEmail")}</a>
  </p>
</div>
</#macro>
