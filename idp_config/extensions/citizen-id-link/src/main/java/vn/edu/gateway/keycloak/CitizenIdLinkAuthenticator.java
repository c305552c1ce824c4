package vn.edu.gateway.keycloak;

import jakarta.ws.rs.core.Response;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.keycloak.authentication.AuthenticationFlowContext;
import org.keycloak.authentication.AuthenticationFlowError;
import org.keycloak.authentication.authenticators.broker.AbstractIdpAuthenticator;
import org.keycloak.authentication.authenticators.broker.util.SerializedBrokeredIdentityContext;
import org.keycloak.broker.provider.BrokeredIdentityContext;
import org.keycloak.events.Errors;
import org.keycloak.models.AuthenticatorConfigModel;
import org.keycloak.models.KeycloakSession;
import org.keycloak.models.RealmModel;
import org.keycloak.models.UserModel;

/**
 * First broker login with the national e-ID: link the external identity to the one existing account
 * whose verified citizen ID equals the citizen ID the national provider asserts.
 *
 * <p>Never by e-mail or name, never a new account: no citizen ID, no account with it, more than one
 * account with it, a disabled account, or an account already linked to another identity of this
 * provider all end the login with an error. The citizen ID itself is never written to events or logs.
 */
public final class CitizenIdLinkAuthenticator extends AbstractIdpAuthenticator {

    static final String ATTRIBUTE_OPTION = "citizen-id-attribute";
    static final String DEFAULT_ATTRIBUTE = "citizen_id";
    private static final Pattern CITIZEN_ID = Pattern.compile("[0-9]{12}");

    @Override
    protected void authenticateImpl(
            AuthenticationFlowContext context,
            SerializedBrokeredIdentityContext serializedCtx,
            BrokeredIdentityContext brokerContext) {
        String attribute = attribute(context.getAuthenticatorConfig());
        String citizenId = brokerContext.getUserAttribute(attribute);
        if (citizenId == null || !CITIZEN_ID.matcher(citizenId).matches()) {
            refuse(context, "no_citizen_id", AuthenticationFlowError.INVALID_USER);
            return;
        }
        KeycloakSession session = context.getSession();
        RealmModel realm = context.getRealm();
        List<UserModel> accounts = session.users()
                .searchForUserByUserAttributeStream(realm, attribute, citizenId)
                .filter(user -> citizenId.equals(user.getFirstAttribute(attribute)))
                .limit(2)
                .collect(Collectors.toList());
        if (accounts.isEmpty()) {
            refuse(context, "no_account_for_citizen", AuthenticationFlowError.UNKNOWN_USER);
            return;
        }
        if (accounts.size() > 1) {
            refuse(context, "several_accounts_for_citizen", AuthenticationFlowError.USER_CONFLICT);
            return;
        }
        UserModel account = accounts.get(0);
        if (!account.isEnabled()) {
            refuse(context, "account_disabled", AuthenticationFlowError.USER_DISABLED);
            return;
        }
        String alias = brokerContext.getIdpConfig().getAlias();
        if (session.users().getFederatedIdentity(realm, account, alias) != null) {
            refuse(context, "account_linked_to_another_identity", AuthenticationFlowError.USER_CONFLICT);
            return;
        }
        context.getEvent().detail("link_reason", "citizen_id_verified");
        context.setUser(account);
        context.success();
    }

    @Override
    protected void actionImpl(
            AuthenticationFlowContext context,
            SerializedBrokeredIdentityContext serializedCtx,
            BrokeredIdentityContext brokerContext) {
        authenticateImpl(context, serializedCtx, brokerContext);
    }

    private static String attribute(AuthenticatorConfigModel config) {
        if (config == null || config.getConfig() == null) {
            return DEFAULT_ATTRIBUTE;
        }
        String value = config.getConfig().get(ATTRIBUTE_OPTION);
        return value == null || value.isBlank() ? DEFAULT_ATTRIBUTE : value;
    }

    private void refuse(AuthenticationFlowContext context, String reason, AuthenticationFlowError error) {
        context.getEvent().detail("link_reason", reason);
        sendFailureChallenge(
                context,
                Response.Status.UNAUTHORIZED,
                Errors.INVALID_USER,
                "citizenIdLinkRefused",
                error);
    }

    @Override
    public boolean requiresUser() {
        return false;
    }

    @Override
    public boolean configuredFor(KeycloakSession session, RealmModel realm, UserModel user) {
        return true;
    }
}
