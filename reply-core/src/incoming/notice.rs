//! What the platform posts to a third-party platform's authorization-event URL: the
//! `component_verify_ticket` every ten minutes, and an account's authorizations.

use super::message::Incoming;
use super::{ParseError, ParseOptions};

/// A notice to a third-party platform ("component"), decrypted: AppId (the component's own),
/// CreateTime, InfoType and what the InfoType brings. The platform sends it encrypted with the
/// component's key, to the URL it was given for authorization events, and takes `success` as the
/// answer.
///
/// ```
/// use reply_core::{ComponentNotice, Notice};
///
/// let xml = "<xml><AppId>wx_component</AppId><CreateTime>1413192605</CreateTime>\
///     <InfoType>component_verify_ticket</InfoType>\
///     <ComponentVerifyTicket>ticket@@@abc</ComponentVerifyTicket></xml>";
/// let notice = ComponentNotice::parse(xml)?;
/// assert_eq!(notice.app_id(), "wx_component");
/// assert!(matches!(notice.notice(), Notice::VerifyTicket { ticket: "ticket@@@abc", .. }));
/// # Ok::<(), reply_core::ParseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ComponentNotice<'a>(Incoming<'a>);

/// A [`ComponentNotice`], typed by its InfoType. New kinds and fields come in minor releases.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice<'n> {
    /// `component_verify_ticket`: the ticket the component's access token is fetched with.
    #[non_exhaustive]
    VerifyTicket {
        /// ComponentVerifyTicket.
        ticket: &'n str,
    },
    /// `authorized`: an account authorized the component. The code is exchanged for the
    /// account's tokens (`api_query_auth`).
    #[non_exhaustive]
    Authorized {
        /// AuthorizerAppid: the account's AppID.
        authorizer_app_id: &'n str,
        /// AuthorizationCode.
        authorization_code: &'n str,
        /// AuthorizationCodeExpiredTime, seconds since the Unix epoch.
        expires_at: Option<u64>,
        /// PreAuthCode: the pre-authorization code the authorization started from.
        pre_auth_code: Option<&'n str>,
    },
    /// `updateauthorized`: an account changed what it authorized; the same fields.
    #[non_exhaustive]
    UpdateAuthorized {
        /// AuthorizerAppid.
        authorizer_app_id: &'n str,
        /// AuthorizationCode.
        authorization_code: &'n str,
        /// AuthorizationCodeExpiredTime.
        expires_at: Option<u64>,
        /// PreAuthCode.
        pre_auth_code: Option<&'n str>,
    },
    /// `unauthorized`: an account withdrew its authorization.
    #[non_exhaustive]
    Unauthorized {
        /// AuthorizerAppid.
        authorizer_app_id: &'n str,
    },
    /// Any other InfoType, kept with its fields in [`ComponentNotice::field`].
    #[non_exhaustive]
    Unknown {
        /// The InfoType.
        info_type: &'n str,
    },
}

impl<'a> ComponentNotice<'a> {
    /// Parses a notice's decrypted XML, with the default [`ParseOptions`].
    pub fn parse(xml: &'a str) -> Result<Self, ParseError> {
        ComponentNotice::parse_with(xml, ParseOptions::new())
    }

    /// Parses a notice's decrypted XML: as a delivery is parsed (the same limits), with only
    /// CreateTime required of the header.
    pub fn parse_with(xml: &'a str, options: ParseOptions) -> Result<Self, ParseError> {
        Incoming::parse_notice(xml, options).map(ComponentNotice)
    }

    /// AppId: the component's AppID.
    pub fn app_id(&self) -> &str {
        self.0.field("AppId").unwrap_or_default()
    }

    /// CreateTime.
    pub fn create_time(&self) -> u64 {
        self.0.create_time()
    }

    /// InfoType.
    pub fn info_type(&self) -> &str {
        self.0.field("InfoType").unwrap_or_default()
    }

    /// A field by name, as sent.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.0.field(name)
    }

    /// The notice, typed by its InfoType.
    pub fn notice(&self) -> Notice<'_> {
        let text = |name| self.0.field(name).unwrap_or_default();
        let number = |name| self.0.field(name).and_then(|v| v.trim().parse().ok());
        match self.info_type() {
            "component_verify_ticket" => Notice::VerifyTicket { ticket: text("ComponentVerifyTicket") },
            "authorized" => Notice::Authorized {
                authorizer_app_id: text("AuthorizerAppid"),
                authorization_code: text("AuthorizationCode"),
                expires_at: number("AuthorizationCodeExpiredTime"),
                pre_auth_code: self.0.field("PreAuthCode"),
            },
            "updateauthorized" => Notice::UpdateAuthorized {
                authorizer_app_id: text("AuthorizerAppid"),
                authorization_code: text("AuthorizationCode"),
                expires_at: number("AuthorizationCodeExpiredTime"),
                pre_auth_code: self.0.field("PreAuthCode"),
            },
            "unauthorized" => Notice::Unauthorized { authorizer_app_id: text("AuthorizerAppid") },
            info_type => Notice::Unknown { info_type },
        }
    }

    /// The same notice, owning its text.
    pub fn into_owned(self) -> ComponentNotice<'static> {
        ComponentNotice(self.0.into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The platform's examples (its third-party platform documentation: the ticket push, an
    /// authorization, an update, a withdrawal), as they are printed there, CDATA and all.
    #[test]
    fn the_platforms_examples() {
        let ticket = "<xml>\n<AppId>some_appid</AppId>\n<CreateTime>1413192605</CreateTime>\n\
            <InfoType>component_verify_ticket</InfoType>\n\
            <ComponentVerifyTicket>some_verify_ticket</ComponentVerifyTicket>\n</xml>";
        let notice = ComponentNotice::parse(ticket).unwrap();
        assert_eq!((notice.app_id(), notice.create_time()), ("some_appid", 1413192605));
        assert_eq!(notice.notice(), Notice::VerifyTicket { ticket: "some_verify_ticket" });

        let authorized = "<xml><AppId><![CDATA[第三方平台appid]]></AppId><CreateTime>1413192760</CreateTime>\
            <InfoType><![CDATA[authorized]]></InfoType><AuthorizerAppid><![CDATA[公众号appid]]></AuthorizerAppid>\
            <AuthorizationCode><![CDATA[授权码]]></AuthorizationCode>\
            <AuthorizationCodeExpiredTime>1413196360</AuthorizationCodeExpiredTime>\
            <PreAuthCode><![CDATA[预授权码]]></PreAuthCode></xml>";
        let expected = Notice::Authorized {
            authorizer_app_id: "公众号appid",
            authorization_code: "授权码",
            expires_at: Some(1413196360),
            pre_auth_code: Some("预授权码"),
        };
        assert_eq!(ComponentNotice::parse(authorized).unwrap().notice(), expected);
        let update = authorized.replace("[authorized]", "[updateauthorized]");
        let update = ComponentNotice::parse(&update).unwrap();
        let Notice::UpdateAuthorized { authorizer_app_id, authorization_code, .. } = update.notice() else {
            panic!("{update:?}")
        };
        assert_eq!((authorizer_app_id, authorization_code), ("公众号appid", "授权码"));

        let unauthorized = "<xml><AppId>第三方平台appid</AppId><CreateTime>1413192760</CreateTime>\
            <InfoType>unauthorized</InfoType><AuthorizerAppid>公众号appid</AuthorizerAppid></xml>";
        let notice = ComponentNotice::parse(unauthorized).unwrap();
        assert_eq!(notice.notice(), Notice::Unauthorized { authorizer_app_id: "公众号appid" });
    }

    #[test]
    fn unknown_and_broken_notices() {
        let other = "<xml><AppId>a</AppId><CreateTime>1</CreateTime><InfoType>notify_third_fasteregister</InfoType>\
            <status>0</status></xml>";
        let notice = ComponentNotice::parse(other).unwrap();
        assert_eq!(notice.notice(), Notice::Unknown { info_type: "notify_third_fasteregister" });
        assert_eq!(notice.field("status"), Some("0"));
        // CreateTime is still required; anything that isn't XML is refused as a delivery is.
        assert!(ComponentNotice::parse("<xml><AppId>a</AppId></xml>").is_err());
        assert!(ComponentNotice::parse("{\"AppId\":1}").is_err());
        assert!(ComponentNotice::parse("").is_err());
        assert!(ComponentNotice::parse("<xml><AppId>a").is_err());
    }
}
