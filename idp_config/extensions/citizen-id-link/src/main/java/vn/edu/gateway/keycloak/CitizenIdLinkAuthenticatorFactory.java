package vn.edu.gateway.keycloak;

import java.util.List;
import org.keycloak.Config;
import org.keycloak.authentication.Authenticator;
import org.keycloak.authentication.AuthenticatorFactory;
import org.keycloak.models.AuthenticationExecutionModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.KeycloakSessionFactory;
import org.keycloak.provider.ProviderConfigProperty;

/** Registers {@link CitizenIdLinkAuthenticator} as the authenticator {@code citizen-id-link}. */
public final class CitizenIdLinkAuthenticatorFactory implements AuthenticatorFactory {

    public static final String PROVIDER_ID = "citizen-id-link";
    private static final CitizenIdLinkAuthenticator SINGLETON = new CitizenIdLinkAuthenticator();

    @Override
    public Authenticator create(KeycloakSession session) {
        return SINGLETON;
    }

    @Override
    public void init(Config.Scope config) {}

    @Override
    public void postInit(KeycloakSessionFactory factory) {}

    @Override
    public void close() {}

    @Override
    public String getId() {
        return PROVIDER_ID;
    }

    @Override
    public String getReferenceCategory() {
        return "citizenIdLink";
    }

    @Override
    public boolean isConfigurable() {
        return true;
    }

    @Override
    public AuthenticationExecutionModel.Requirement[] getRequirementChoices() {
        return new AuthenticationExecutionModel.Requirement[] {
            AuthenticationExecutionModel.Requirement.REQUIRED,
            AuthenticationExecutionModel.Requirement.DISABLED,
        };
    }

    @Override
    public String getDisplayType() {
        return "Link by verified citizen ID";
    }

    @Override
    public String getHelpText() {
        return "Links a national e-ID login to the one enabled account whose citizen ID attribute equals"
                + " the citizen ID the provider asserts; never by e-mail or name, never a new account.";
    }

    @Override
    public List<ProviderConfigProperty> getConfigProperties() {
        ProviderConfigProperty attribute = new ProviderConfigProperty();
        attribute.setName(CitizenIdLinkAuthenticator.ATTRIBUTE_OPTION);
        attribute.setLabel("Citizen ID attribute");
        attribute.setType(ProviderConfigProperty.STRING_TYPE);
        attribute.setDefaultValue(CitizenIdLinkAuthenticator.DEFAULT_ATTRIBUTE);
        attribute.setHelpText("User attribute holding the verified citizen ID, filled by an IdP mapper.");
        return List.of(attribute);
    }

    @Override
    public boolean isUserSetupAllowed() {
        return false;
    }
}
